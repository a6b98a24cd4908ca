"""Watching a repository from its header: "Participating" (the default: news of what one
takes part in), "All activity" (every change in it) or "Ignore" (nothing from it)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import login_required

from forge.repos import repositories as repo_service
from forge.repos import watching
from forge.web.context import db, viewer
from forge.web.forms import PostForm

bp = Blueprint("watching", __name__)

LEVELS = {"participating": "Participating", "all": "All activity", "ignore": "Ignore"}


@bp.app_context_processor
def watch_levels():
    def watch_level(repo) -> str:
        """The signed-in viewer's choice for the repository (asked only by pages that show it)."""
        user = viewer()
        watch = watching.subscription(db(), user, repo) if user is not None else None
        if watch is None:
            return "participating"
        return "ignore" if watch.ignored else "all"

    return {"watch_level": watch_level, "watch_levels": LEVELS}


@bp.route("/<owner>/<name>/watch", methods=["POST"])
@login_required
def watch(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    level = request.form.get("level", "")
    if not PostForm().validate_on_submit() or level not in LEVELS:
        abort(400, "the form is out of date; reload the page")
    if level == "participating":
        watching.unsubscribe(db(), viewer(), repo)
    else:
        watching.subscribe(db(), viewer(), repo, ignored=level == "ignore")
    flash(f"Notifications for {repo.full_name}: {LEVELS[level]}.", "success")
    return redirect(url_for("repos.show", owner=repo.owner.name, name=repo.name))
