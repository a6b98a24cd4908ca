"""The review queue over the API (forge's own extension): GET /review-queue, the changes the
caller may vote on, neediest first; POST/DELETE /repos/{o}/{r}/pulls/{n}/claim to claim one
for 30 minutes or give it back; PUT/DELETE /repos/{o}/{r}/pulls/{n}/audit for maintainers."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts import reputation
from forge.accounts.permissions import require
from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.bodies import json_body
from forge.api.pagination import link_header, page_args
from forge.api.pulls import pull_of
from forge.api.shapes import review_queue as review_queue_shapes
from forge.errors import Invalid
from forge.gate import review_queue as queue_service
from forge.repos.repositories import repository_filter
from forge.web.context import db, settings


@api.get("/review-queue")
def review_queue():
    user = require_user()
    per_page, page = page_args()
    repo = repository_filter(db(), request.args.get("repository"), repo_viewer())
    found = queue_service.review_queue(
        db(),
        user,
        repository=repo,
        label=request.args.get("label"),
        limit=per_page,
        offset=(page - 1) * per_page,
        # A token without the `repo` scope sees public repositories only.
        public_only=repo_viewer() is None,
    )
    items = [review_queue_shapes.review_queue_item(item) for item in found.items]
    return jsonify(items), 200, link_header(page, per_page, has_next=found.has_next)


@api.post("/repos/<owner>/<name>/pulls/<int:number>/claim")
def claim_pull(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    held = queue_service.claim(db(), user, change, max_claims=settings().max_claims)
    return jsonify(review_queue_shapes.review_claim(change, held)), 201


@api.delete("/repos/<owner>/<name>/pulls/<int:number>/claim")
def release_pull(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    queue_service.release(db(), user, change)
    return "", 204


@api.get("/repos/<owner>/<name>/pulls/<int:number>/audit")
def get_audit(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    require(db(), user, "maintain", change.repository)
    audit = reputation.audit_of(db(), user, change)
    return jsonify({"audit": audit is not None, "expected": audit.expected if audit else None})


@api.put("/repos/<owner>/<name>/pulls/<int:number>/audit")
def mark_audit(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    expected = body.get("expected")
    if not isinstance(expected, str):
        raise Invalid('expected must be "bad" or "good"', field="expected")
    audit = reputation.mark_audit(db(), user, change, expected)
    return jsonify({"audit": True, "expected": audit.expected})


@api.delete("/repos/<owner>/<name>/pulls/<int:number>/audit")
def unmark_audit(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    reputation.unmark_audit(db(), user, change)
    return "", 204
