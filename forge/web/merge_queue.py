"""The merge queue in the browser: the repository's queue page (/OWNER/REPO/queue), taking a
change out of it, and enabling or disabling a change's auto-merge. Every form posts with a
CSRF token, then redirects back."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import login_required

from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import auto_submit, merge_queue
from forge.repos import repositories as repo_service
from forge.review import changes as change_service
from forge.web import external_url
from forge.web.browse import render_repo_page
from forge.web.change_forms import MergeMethodForm
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("merge_queue", __name__)


class AutoMergeForm(MergeMethodForm):
    """Turn auto-merge on with a merge method (off is a plain POST form)."""


def _change_url(change) -> str:
    repo = change.repository
    return url_for("changes.show", owner=repo.owner.name, name=repo.name, number=change.number)


def _queue_url(repo) -> str:
    return url_for("merge_queue.show", owner=repo.owner.name, name=repo.name)


def _back(change) -> str:
    """The queue page when the form came from it, else the change's page."""
    if request.form.get("from") == "queue":
        return _queue_url(change.repository)
    return _change_url(change) + "#merge"


@bp.route("/<owner>/<name>/queue")
def show(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    user = viewer()
    queues: dict[str, list] = {}
    for entry in merge_queue.active_entries(db(), repo):
        queues.setdefault(entry.branch, []).append(entry)
    removable = {
        entry.id
        for entries in queues.values()
        for entry in entries
        if merge_queue.may_remove(db(), user, entry)
    }
    return render_repo_page(
        "repo_queue.html",
        repo,
        "queue",
        queues=queues,
        run_states=merge_queue.run_states(db(), [e for es in queues.values() for e in es]),
        removable=removable,
        recent=merge_queue.recent_entries(db(), repo, limit=20),
        post_form=PostForm(),
    )


@bp.route("/<owner>/<name>/queue/<int:number>/remove", methods=["POST"])
@login_required
def remove(owner: str, name: str, number: int):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    change = change_service.get_change(db(), repo, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    try:
        merge_queue.remove(db(), viewer(), change, base_url=external_url(""))
    except NotFound:
        db().rollback()
        flash(f"Change #{number} is not in the merge queue.", "info")
        return redirect(_back(change))
    except (Invalid, Forbidden) as exc:
        db().rollback()
        abort(403 if isinstance(exc, Forbidden) else 400, exc.message)
    flash(f"Change #{number} was taken out of the merge queue.", "success")
    return redirect(_back(change))


@bp.route("/<owner>/<name>/pull/<int:number>/auto-merge", methods=["POST"])
@login_required
def auto_merge(owner: str, name: str, number: int):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    change = change_service.get_change(db(), repo, number)
    disable = request.form.get("disable") == "1"
    form = AutoMergeForm()
    if not form.validate_on_submit():
        abort(400, "the form is out of date or names no merge method; reload the page")
    try:
        entry = auto_submit.set_auto_merge(
            db(),
            settings().repos_dir,
            viewer(),
            change,
            None if disable else form.method.data,
            base_url=external_url(""),
        )
    except (Invalid, Forbidden) as exc:
        db().rollback()
        abort(403 if isinstance(exc, Forbidden) else 400, exc.message)
    if disable:
        flash("Auto-merge is off.", "success")
    elif entry is not None:
        flash(f"Change #{number} is submittable and entered the merge queue.", "success")
    else:
        flash(f"Auto-merge is on: change #{number} enters the merge queue once it is submittable.",
              "success")  # fmt: skip
    return redirect(_change_url(change) + "#merge")
