"""Crowdsourced triage over the API (forge's own extension, documented in
openapi/triage.yaml): an issue's triage, confirming ("I can reproduce this" / "cannot
reproduce"), a triager's confirmation or duplicate marking, running the repro again, and the
triage queue with its claims."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.bodies import json_body
from forge.api.pagination import link_header, page_args
from forge.api.shapes import triage as shapes
from forge.api.shapes.triage import repro_run
from forge.errors import Invalid
from forge.issues import repro, tracker, triage, triage_queue
from forge.repos.repositories import get_repository
from forge.web.context import db, settings


def _issue(owner: str, name: str, number: int):
    repo = get_repository(db(), owner, name, repo_viewer())
    return tracker.get_issue(db(), repo, repo_viewer(), number)


def _writer_issue(owner: str, name: str, number: int):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, user)
    return user, tracker.get_issue(db(), repo, user, number)


def _triage_json(issue, viewer=None):
    summary = triage.summary_of(db(), issue, viewer)
    return shapes.triage(issue, summary, repro.latest_run(db(), issue))


@api.get("/repos/<owner>/<name>/issues/<int:number>/triage")
def get_triage(owner: str, name: str, number: int):
    return jsonify(_triage_json(_issue(owner, name, number)))


@api.put("/repos/<owner>/<name>/issues/<int:number>/triage/confirmation")
def put_confirmation(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    body = json_body()
    if "reproducible" not in body:
        raise Invalid("reproducible (true or false) is required", field="reproducible")
    triage.confirm(db(), issue, user, body.get("reproducible"), body.get("environment"))
    return jsonify(_triage_json(issue, user))


@api.delete("/repos/<owner>/<name>/issues/<int:number>/triage/confirmation")
def delete_confirmation(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    triage.withdraw(db(), issue, user)
    return "", 204


@api.post("/repos/<owner>/<name>/issues/<int:number>/triage/confirm")
def confirm_now(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    triage.confirm_now(db(), issue, user)
    return jsonify(_triage_json(issue, user))


@api.post("/repos/<owner>/<name>/issues/<int:number>/triage/duplicate")
def mark_duplicate(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    original_number = json_body().get("original")
    if isinstance(original_number, bool) or not isinstance(original_number, int):
        raise Invalid("original must be the number of the issue this duplicates", field="original")
    original = tracker.get_issue(db(), issue.repository, user, original_number)
    triage.mark_duplicate(db(), issue, original, user)
    return jsonify(_triage_json(original, user))


@api.post("/repos/<owner>/<name>/issues/<int:number>/triage/repro")
def run_repro(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    run = repro.run_again(db(), issue, user)
    return jsonify(repro_run(run)), 201


@api.get("/triage-queue")
def get_triage_queue():
    user = require_user()
    return _queue(user, None)


@api.get("/repos/<owner>/<name>/triage-queue")
def get_repo_triage_queue(owner: str, name: str):
    user = require_user()
    repo = get_repository(db(), owner, name, repo_viewer())
    return _queue(user, repo)


def _queue(user, repo):
    per_page, page = page_args()
    found = triage_queue.triage_queue(
        db(), user, repository=repo, limit=per_page, offset=(page - 1) * per_page
    )
    items = [shapes.triage_queue_item(item) for item in found.items]
    return jsonify(items), 200, link_header(page, per_page, has_next=found.has_next)


@api.post("/repos/<owner>/<name>/issues/<int:number>/triage/claim")
def claim_issue(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    held = triage_queue.claim(db(), user, issue, max_claims=settings().max_claims)
    return jsonify(shapes.triage_claim(issue, held)), 201


@api.delete("/repos/<owner>/<name>/issues/<int:number>/triage/claim")
def release_issue(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    triage_queue.release(db(), user, issue)
    return "", 204
