"""Stars and forks on the repository's pages: the Star button (and its count) in the header,
who starred it (/OWNER/REPO/stargazers) and its forks (/OWNER/REPO/forks), each listing only
what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, redirect, request, url_for
from flask_login import login_required

from forge.errors import Invalid
from forge.repos import forks as fork_service
from forge.repos import stars as star_service
from forge.repos.repositories import get_repository
from forge.web.browse import render_repo_page
from forge.web.context import db, viewer
from forge.web.forms import PostForm

bp = Blueprint("stars", __name__)


@dataclass(frozen=True)
class Social:
    stars: int
    starred: bool
    forks: int


@bp.app_template_global()
def repo_social(repo) -> Social:
    """The header's counts of a repository, once per request."""
    cache = g.setdefault("repo_social", {})
    if repo.id not in cache:
        cache[repo.id] = Social(
            stars=star_service.star_count(db(), repo),
            starred=star_service.is_starred(db(), viewer(), repo),
            forks=fork_service.fork_count(db(), repo),
        )
    return cache[repo.id]


@bp.route("/<owner>/<name>/<any(star, unstar):action>", methods=["POST"])
@login_required
def star(owner: str, name: str, action: str):
    repo = get_repository(db(), owner, name, viewer())
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired; reload the page and try again")
    (star_service.star if action == "star" else star_service.unstar)(db(), viewer(), repo)
    db().commit()
    back = request.form.get("next") or ""
    if not back.startswith("/") or back.startswith("//"):  # only back to a page of this site
        back = url_for("repos.show", owner=owner, name=name)
    return redirect(back)


@bp.route("/<owner>/<name>/stargazers")
def stargazers(owner: str, name: str):
    repo = get_repository(db(), owner, name, viewer())
    found = star_service.stargazers(db(), repo, viewer())
    return render_repo_page("repo_stargazers.html", repo, "code", stars=found)


@bp.route("/<owner>/<name>/forks")
def forks(owner: str, name: str):
    repo = get_repository(db(), owner, name, viewer())
    found = fork_service.forks_of(db(), repo, viewer())
    return render_repo_page("repo_forks.html", repo, "code", forks=found)
