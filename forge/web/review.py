"""The review queue in the browser: /review (a reviewer's queue across forge) and
/OWNER/REPO/review (one repository's), claiming and releasing changes, and marking a change
as an audit (maintainers, from the change page)."""

from __future__ import annotations

import contextlib

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts import reputation
from forge.errors import NotFound
from forge.gate import review_queue as queue_service
from forge.repos import repositories as repo_service
from forge.review import changes as change_service
from forge.web.browse import render_repo_page
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("review", __name__)
PER_PAGE = 30


def _queue_args():
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    label = (request.args.get("label") or "").strip() or None
    return page, label


def _queue_values(repo=None) -> dict:
    page, label = _queue_args()
    wanted = (request.args.get("repository") or "").strip()
    if repo is None:
        repo = repo_service.repository_filter(db(), wanted, viewer())
    found = queue_service.review_queue(
        db(), viewer(), repository=repo, label=label, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return {
        "queue": found,
        "page": page,
        "label": found.label,
        "repository_filter": wanted if repo is not None else "",
        "claim_form": PostForm(),
    }


@bp.route("/review")
@login_required
def queue():
    return render_template("review_queue.html", repo=None, **_queue_values())


@bp.route("/<owner>/<name>/review")
@login_required
def repository_queue(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    return render_repo_page("review_queue.html", repo, "review", **_queue_values(repo))


def _change(owner: str, name: str, number: int):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    return change_service.get_change(db(), repo, number)


def _back(fallback: str) -> str:
    """Back to the page the form was on (only a path on this site)."""
    wanted = request.form.get("next", "")
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return fallback


@bp.route("/<owner>/<name>/pull/<int:number>/<any(claim, release):action>", methods=["POST"])
@login_required
def claim(owner: str, name: str, number: int, action: str):
    change = _change(owner, name, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    if action == "claim":
        try:
            held = queue_service.claim(db(), viewer(), change, max_claims=settings().max_claims)
        except queue_service.TooManyClaims as exc:
            db().rollback()
            flash(exc.message, "error")
            return redirect(_back(url_for(".queue")))
        until = held.expires_at.strftime("%H:%M")
        flash(f"You claimed #{change.number} for review until {until} UTC.", "success")
        # Claimed to review it: straight to the change.
        return redirect(url_for("changes.show", owner=owner, name=name, number=number))
    queue_service.release(db(), viewer(), change)
    flash(f"You released #{change.number}.", "success")
    return redirect(_back(url_for(".queue")))


@bp.route("/<owner>/<name>/pull/<int:number>/audit", methods=["POST"])
@login_required
def audit(owner: str, name: str, number: int):
    change = _change(owner, name, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    expected = request.form.get("expected", "")
    if expected == "none":
        with contextlib.suppress(NotFound):
            reputation.unmark_audit(db(), viewer(), change)
        flash(f"#{change.number} is no longer an audit.", "success")
    else:
        reputation.mark_audit(db(), viewer(), change, expected)
        flash(f"#{change.number} is now a known-{expected} audit.", "success")
    return redirect(url_for("changes.show", owner=owner, name=name, number=number))
