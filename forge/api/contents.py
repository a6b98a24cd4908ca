"""Reading a repository: GET /repos/{o}/{r}/contents/{path} and GET /repos/{o}/{r}/commits/{sha},
and forks: POST and GET /repos/{o}/{r}/forks."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts.permissions import role_of
from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pagination import paginate
from forge.api.pulls import commit_json
from forge.api.shapes import repos as repo_shapes
from forge.repos import contents as content_service
from forge.repos import forks as fork_service
from forge.repos.repositories import get_repository
from forge.web.context import db, settings


# The top folder's two rules take `path` from the signature, not from `defaults=`: rules of
# one endpoint with defaults would 308-redirect one form to the other.
@api.get("/repos/<owner>/<name>/contents")
@api.get("/repos/<owner>/<name>/contents/")
@api.get("/repos/<owner>/<name>/contents/<path:path>")
def get_contents(owner: str, name: str, path: str = ""):
    repo = get_repository(db(), owner, name, repo_viewer())
    ref = request.args.get("ref") or None
    found = content_service.contents(settings().repos_dir, repo, path, ref)
    shown_ref = ref or found.revision
    if found.entry.kind == "tree":
        return jsonify([repo_shapes.content_entry(repo, shown_ref, e) for e in found.entries])
    return jsonify(repo_shapes.content_entry(repo, shown_ref, found.entry, found.data))


@api.get("/repos/<owner>/<name>/commits/<sha>")
def get_commit(owner: str, name: str, sha: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    detail = content_service.commit_detail(settings().repos_dir, repo, sha)
    return jsonify(commit_json(repo, [detail.commit], detail)[0])


# --- forks ----------------------------------------------------------------------------------


@api.post("/repos/<owner>/<name>/forks")
def create_fork(owner: str, name: str):
    user = require_scope("repo")
    source = get_repository(db(), owner, name, repo_viewer())
    fork, _new = fork_service.fork_repository(
        db(), settings().repos_dir, source, user, name=body_field(json_body(), "name", str)
    )
    # GitHub answers 202: its copy finishes later. forge's is done, but clients expect 202.
    return jsonify(repo_shapes.repository(fork, role_of(db(), user, fork))), 202


@api.get("/repos/<owner>/<name>/forks")
def list_forks(owner: str, name: str):
    source = get_repository(db(), owner, name, repo_viewer())
    found = fork_service.forks_of(db(), source, repo_viewer())
    body, headers = paginate(
        found, lambda fork: repo_shapes.repository(fork, role_of(db(), repo_viewer(), fork))
    )
    return jsonify(body), 200, headers
