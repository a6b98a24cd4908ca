"""Commit statuses: POST /repos/{o}/{r}/statuses/{sha}, GET .../commits/{ref}/status(es)."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pagination import paginate
from forge.api.shapes import repos as repo_shapes
from forge.errors import Invalid
from forge.repos import statuses as status_service
from forge.repos.repositories import get_repository
from forge.web.context import db, settings


@api.post("/repos/<owner>/<name>/statuses/<sha>")
def create_status(owner: str, name: str, sha: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    body = json_body()
    state = body_field(body, "state", str)
    if not state:
        raise Invalid("state is required", field="state")
    row = status_service.create_status(
        db(),
        settings().repos_dir,
        repo,
        user,
        sha,
        state,
        context=body_field(body, "context", str, "default") or "default",
        description=body_field(body, "description", str, "") or "",
        target_url=body_field(body, "target_url", str, "") or "",
    )
    return jsonify(repo_shapes.status(repo, row)), 201


# GET .../statuses/{sha} is GitHub's older path of the same list, which github3.py still uses.
@api.get("/repos/<owner>/<name>/commits/<path:ref>/statuses")
@api.get("/repos/<owner>/<name>/statuses/<path:ref>")
def list_statuses(owner: str, name: str, ref: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    sha = status_service.resolve_commit(settings().repos_dir, repo, ref)
    rows = status_service.statuses_for(db(), repo, sha)
    body, headers = paginate(rows, lambda row: repo_shapes.status(repo, row))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/commits/<path:ref>/status")
def combined_status(owner: str, name: str, ref: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    sha = status_service.resolve_commit(settings().repos_dir, repo, ref)
    latest = status_service.latest_per_context(status_service.statuses_for(db(), repo, sha))
    state = status_service.combined_state(latest)
    return jsonify(repo_shapes.combined_status(repo, sha, state, latest))
