"""A protected branch's required status checks on their own:
/repos/{o}/{r}/branches/{b}/protection/required_status_checks and .../contexts (admin)."""

from __future__ import annotations

from flask import jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.shapes import repos as repo_shapes
from forge.errors import Invalid
from forge.repos import required_checks
from forge.repos.repositories import get_repository
from forge.web.context import db

CHECKS = "/repos/<owner>/<name>/branches/<path:branch>/protection/required_status_checks"


def _repository(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


def _answer(repo, rule):
    return jsonify(repo_shapes.protection(repo, rule)["required_status_checks"])


@api.get(CHECKS)
def get_required_checks(owner: str, name: str, branch: str):
    repo = _repository(owner, name)
    return _answer(repo, required_checks.required_checks(db(), repo, repo_viewer(), branch))


@api.patch(CHECKS)
def update_required_checks(owner: str, name: str, branch: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    contexts = body_field(body, "contexts", list)
    checks = body_field(body, "checks", list)
    if contexts is None and checks is not None:  # GitHub's newer form: [{context, app_id}]
        contexts = [c.get("context") if isinstance(c, dict) else c for c in checks]
    rule = required_checks.update_required_checks(
        db(), repo, user, branch, strict=body_field(body, "strict", bool), contexts=contexts
    )
    return _answer(repo, rule)


@api.delete(CHECKS)
def remove_required_checks(owner: str, name: str, branch: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    required_checks.remove_required_checks(db(), repo, user, branch)
    return "", 204


@api.get(CHECKS + "/contexts")
def list_required_contexts(owner: str, name: str, branch: str):
    repo = _repository(owner, name)
    return jsonify(
        required_checks.required_checks(db(), repo, repo_viewer(), branch).required_contexts
    )


def _contexts_given():
    """GitHub takes the contexts as a bare JSON array or as {"contexts": [...]}."""
    body = request.get_json(force=True, silent=True)
    if isinstance(body, dict):
        body = body.get("contexts")
    if not isinstance(body, list):
        raise Invalid('send the contexts as a list, or as {"contexts": [...]}', field="contexts")
    return body


def _change(owner: str, name: str, branch: str, how: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    now = required_checks.change_contexts(db(), repo, user, branch, _contexts_given(), how)
    return jsonify(now)


@api.post(CHECKS + "/contexts")
def add_required_contexts(owner: str, name: str, branch: str):
    return _change(owner, name, branch, "add")


@api.put(CHECKS + "/contexts")
def set_required_contexts(owner: str, name: str, branch: str):
    return _change(owner, name, branch, "set")


@api.delete(CHECKS + "/contexts")
def remove_required_contexts(owner: str, name: str, branch: str):
    return _change(owner, name, branch, "remove")
