"""The merge queue and auto-merge through the API: forge's extension (GitHub has them in
GraphQL only).

    GET    /repos/{o}/{r}/merge-queue[?branch=main&state=all]  the queue(s), in order
    DELETE /repos/{o}/{r}/merge-queue/{pull_number}            take a change out (204)
    PUT    /repos/{o}/{r}/pulls/{n}/auto-merge  {"merge_method": "merge"}  enable auto-merge
    DELETE /repos/{o}/{r}/pulls/{n}/auto-merge                              disable it (204)

A private repository answers 404 to those who may not read it; removing needs the change's
author or the write role, enabling auto-merge the author or the write role.
"""

from __future__ import annotations

from flask import jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pagination import paginate
from forge.api.pulls import pull_of
from forge.api.shapes import merge_queue as merge_queue_shapes
from forge.errors import Invalid
from forge.gate import auto_submit, merge_queue
from forge.repos.repositories import get_repository
from forge.web import external_url
from forge.web.context import db, settings


def _entries_json(entries) -> list[dict]:
    positions: dict[str, int] = {}
    items = []
    for entry in entries:
        position = None
        if entry.state in ("queued", "testing"):
            position = positions[entry.branch] = positions.get(entry.branch, 0) + 1
        items.append(merge_queue_shapes.merge_queue_entry(entry, position))
    return items


@api.get("/repos/<owner>/<name>/merge-queue")
def list_merge_queue(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    branch = request.args.get("branch") or None
    state = request.args.get("state", "active")
    if state not in ("active", "all"):
        raise Invalid("state must be active or all", field="state")
    entries = merge_queue.active_entries(db(), repo, branch)
    if state == "all":
        entries += merge_queue.recent_entries(db(), repo, branch, limit=100)
    # Positions count the whole queue, so the page is cut from the finished list.
    body, headers = paginate(_entries_json(entries), lambda item: item)
    return jsonify(body), 200, headers


@api.delete("/repos/<owner>/<name>/merge-queue/<int:number>")
def remove_from_merge_queue(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    merge_queue.remove(db(), user, change, base_url=external_url(""))
    return "", 204


@api.put("/repos/<owner>/<name>/pulls/<int:number>/auto-merge")
def enable_auto_merge(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    method = body_field(json_body(), "merge_method", str, "merge") or "merge"
    entry = auto_submit.set_auto_merge(
        db(), settings().repos_dir, user, change, method, base_url=external_url("")
    )
    position = merge_queue.position_of(db(), entry) if entry is not None else None
    return jsonify(merge_queue_shapes.auto_merge_answer(change, entry, position))


@api.delete("/repos/<owner>/<name>/pulls/<int:number>/auto-merge")
def disable_auto_merge(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    auto_submit.set_auto_merge(db(), settings().repos_dir, user, change, None)
    return "", 204
