"""Stars as GitHub's API has them: GET /repos/{o}/{r}/stargazers (with `starred_at` for the
`application/vnd.github.star+json` media type), the caller's stars under /user/starred
(list, check, star with PUT, unstar with DELETE) and anyone's under /users/{u}/starred."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts.permissions import role_of
from forge.accounts.users import get_user
from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.pagination import paginate
from forge.api.shapes import repos as repo_shapes
from forge.api.shapes.links import timestamp
from forge.api.shapes.users import simple_user
from forge.errors import NotFound
from forge.repos import stars as star_service
from forge.repos.repositories import get_repository
from forge.web.context import db

STAR_MEDIA = "application/vnd.github.star+json"


def _with_dates() -> bool:
    return STAR_MEDIA in request.headers.get("Accept", "")


@api.get("/repos/<owner>/<name>/stargazers")
def stargazers(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    found = star_service.stargazers(db(), repo, repo_viewer())

    def shape(star):
        user = simple_user(star.user)
        return {"starred_at": timestamp(star.created_at), "user": user} if _with_dates() else user

    body, headers = paginate(found, shape)
    return jsonify(body), 200, headers


def _starred_listing(user):
    viewer = repo_viewer()
    found = star_service.starred_by(db(), user, viewer)

    def shape(star):
        repo = repo_shapes.repository(star.repository, role_of(db(), viewer, star.repository))
        return {"starred_at": timestamp(star.created_at), "repo": repo} if _with_dates() else repo

    body, headers = paginate(found, shape)
    return jsonify(body), 200, headers


@api.get("/user/starred")
def my_stars():
    return _starred_listing(require_user())


@api.get("/users/<username>/starred")
def stars_of(username: str):
    return _starred_listing(get_user(db(), username))


@api.get("/user/starred/<owner>/<name>")
def is_starred(owner: str, name: str):
    user = require_user()
    repo = get_repository(db(), owner, name, repo_viewer())
    if not star_service.is_starred(db(), user, repo):
        raise NotFound("not starred")
    return "", 204


@api.put("/user/starred/<owner>/<name>")
def star(owner: str, name: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    star_service.star(db(), user, repo)
    return "", 204


@api.delete("/user/starred/<owner>/<name>")
def unstar(owner: str, name: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    star_service.unstar(db(), user, repo)
    return "", 204
