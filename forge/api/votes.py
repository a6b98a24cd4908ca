"""Votes on pull requests and each repository's quality gate: forge's extension of the API.

    POST /repos/{o}/{r}/pulls/{n}/votes   {"label": "Code-Review", "value": 1, "message": "..."}
    GET  /repos/{o}/{r}/pulls/{n}/votes   {"votes": [...], "submit": {"ready": ..., "unmet": [...]}}
    GET  /repos/{o}/{r}/quality-gate      {"enabled", "quorum", "require_verified",
    PUT  /repos/{o}/{r}/quality-gate       "auto_submit", "community_quorum", "labels": [...]}
    GET  /repos/{o}/{r}/trust/{user}      what the user's vote weighs there, and why
    PUT  /repos/{o}/{r}/trust/{user}/vouch  {"amount": 0.5}: lend them part of your trust
    DELETE /repos/{o}/{r}/trust/{user}/vouch

A vote the caller may not give answers 403 with a message naming the missing privilege; a
value outside the label's range, or a bad gate setting, 422 in GitHub's error shape.
"""

from __future__ import annotations

from flask import jsonify

from forge.accounts import privileges, trust_edges
from forge.accounts.users import get_user
from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pulls import pull_of
from forge.api.shapes import gate as gate_shapes
from forge.errors import Invalid, NotFound
from forge.gate import labels as label_service
from forge.gate import quality_gate, tally
from forge.gate import votes as vote_service
from forge.repos.repositories import get_repository
from forge.web.context import db, settings


def _answer(change, status: int = 200, **extra):
    views = tally.votes_of(db(), change)
    state = quality_gate.submit_status(db(), settings().repos_dir, change, views=views)
    return jsonify({**extra, **gate_shapes.votes_answer(views, state)}), status


@api.get("/repos/<owner>/<name>/pulls/<int:number>/votes")
def list_votes(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    return _answer(change)


@api.post("/repos/<owner>/<name>/pulls/<int:number>/votes")
def create_vote(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    label = body_field(body, "label", str)
    if not label:
        raise Invalid("label is required, e.g. Code-Review", field="label")
    if "value" not in body:
        raise Invalid("value is required: a whole number in the label's range", field="value")
    recorded = vote_service.record_vote(
        db(),
        user,
        change,
        label,
        body["value"],
        body_field(body, "message", str, "") or "",
        via="api",
    )
    db().flush()
    mine = None
    if recorded.vote is not None:
        mine = next(
            (v for v in tally.votes_of(db(), change) if v.user_id == user.id
             and v.label == recorded.vote.label),
            None,
        )  # fmt: skip
    return _answer(
        change,
        201 if recorded.action == "created" else 200,
        vote=gate_shapes.vote(mine) if mine is not None else None,
        action=recorded.action,
    )


@api.get("/repos/<owner>/<name>/quality-gate")
def get_quality_gate(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    gate = quality_gate.gate_of(db(), repo)
    return jsonify(gate_shapes.quality_gate(gate, label_service.labels_of(db(), repo)))


@api.put("/repos/<owner>/<name>/quality-gate")
def put_quality_gate(owner: str, name: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    body = json_body()
    labels = body_field(body, "labels", list)
    gate = quality_gate.update_gate(
        db(),
        user,
        repo,
        enabled=body.get("enabled"),
        quorum=body.get("quorum"),
        require_verified=body.get("require_verified"),
        auto_submit=body.get("auto_submit"),
        community_quorum=body.get("community_quorum"),
        triage_threshold=body.get("triage_threshold"),
        labels=[_label_spec(item) for item in labels] if labels is not None else None,
    )
    return jsonify(gate_shapes.quality_gate(gate, label_service.labels_of(db(), repo)))


def _label_spec(item) -> label_service.LabelSpec:
    if not isinstance(item, dict):
        raise Invalid("each label must be an object with name, min and max", field="labels")
    for key in ("name", "min", "max"):
        if key not in item:
            raise Invalid(f"each label needs {key}", field=key)
    return label_service.LabelSpec(
        name=item["name"],
        min_value=item["min"],
        max_value=item["max"],
        function=item.get("function", "MaxWithBlock"),
        copy_values=item.get("copy_values", []),
        description=item.get("description", "") or "",
    )


@api.get("/repos/<owner>/<name>/trust/<username>")
def get_trust(owner: str, name: str, username: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    return _trust_answer(repo, get_user(db(), username))


@api.put("/repos/<owner>/<name>/trust/<username>/vouch")
def put_vouch(owner: str, name: str, username: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    trustee = get_user(db(), username)
    body = json_body()
    if "amount" not in body:
        raise Invalid("amount is required: the trust to lend, e.g. 0.5", field="amount")
    trust_edges.vouch(db(), user, repo, trustee, body["amount"], privileges.rules_of(db()))
    return _trust_answer(repo, trustee)


@api.delete("/repos/<owner>/<name>/trust/<username>/vouch")
def delete_vouch(owner: str, name: str, username: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    if not trust_edges.unvouch(db(), user, repo, get_user(db(), username)):
        raise NotFound(f"you do not vouch for {username} in {repo.full_name}")
    return "", 204


def _trust_answer(repo, user):
    who = privileges.standing(db(), user, repo)
    return jsonify(gate_shapes.trust(user, repo, who, trust_edges.vouches_by(db(), repo, user)))
