"""A repository's issue labels and milestones as GitHub's REST API serves them:
/repos/{o}/{r}/labels[/{name}] and /repos/{o}/{r}/milestones[/{number}]."""

from __future__ import annotations

from flask import jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, iso_time, json_body
from forge.api.pagination import paginate
from forge.api.shapes import issues as shapes
from forge.issues import catalog
from forge.repos.repositories import get_repository
from forge.web.context import db


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


def _writer(owner: str, name: str):
    user = require_scope("repo")
    return user, get_repository(db(), owner, name, user)


def _label_json(repo, label) -> dict:
    return shapes.label(label, repo.full_name)


def _milestone_json(repo, milestone) -> dict:
    return shapes.milestone(milestone, repo.full_name, *catalog.issue_counts(db(), milestone))


@api.get("/repos/<owner>/<name>/labels")
def list_labels(owner: str, name: str):
    repo = _repo(owner, name)
    found = catalog.labels_of(db(), repo, repo_viewer())
    body, headers = paginate(found, lambda row: _label_json(repo, row))
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/labels")
def create_label(owner: str, name: str):
    user, repo = _writer(owner, name)
    body = json_body()
    label = catalog.create_label(
        db(),
        repo,
        user,
        name=body.get("name"),
        color=body.get("color", "ededed"),
        description=body_field(body, "description", str),
    )
    return jsonify(_label_json(repo, label)), 201


@api.get("/repos/<owner>/<name>/labels/<path:label_name>")
def get_label(owner: str, name: str, label_name: str):
    repo = _repo(owner, name)
    return jsonify(_label_json(repo, catalog.get_label(db(), repo, repo_viewer(), label_name)))


@api.patch("/repos/<owner>/<name>/labels/<path:label_name>")
def update_label(owner: str, name: str, label_name: str):
    user, repo = _writer(owner, name)
    label = catalog.get_label(db(), repo, user, label_name)
    body = json_body()
    catalog.update_label(
        db(),
        repo,
        user,
        label,
        name=body.get("new_name", body.get("name")),
        color=body.get("color"),
        description=body_field(body, "description", str),
    )
    return jsonify(_label_json(repo, label))


@api.delete("/repos/<owner>/<name>/labels/<path:label_name>")
def delete_label(owner: str, name: str, label_name: str):
    user, repo = _writer(owner, name)
    catalog.delete_label(db(), repo, user, catalog.get_label(db(), repo, user, label_name))
    return "", 204


@api.get("/repos/<owner>/<name>/milestones")
def list_milestones(owner: str, name: str):
    repo = _repo(owner, name)
    found = catalog.milestones_of(db(), repo, repo_viewer(), request.args.get("state", "open"))
    if request.args.get("direction") == "desc":
        found = found[::-1]
    body, headers = paginate(found, lambda row: _milestone_json(repo, row))
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/milestones")
def create_milestone(owner: str, name: str):
    user, repo = _writer(owner, name)
    body = json_body()
    milestone = catalog.create_milestone(
        db(),
        repo,
        user,
        title=body.get("title"),
        state=body_field(body, "state", str, "open"),
        description=body_field(body, "description", str),
        due_on=iso_time(body.get("due_on"), "due_on"),
    )
    return jsonify(_milestone_json(repo, milestone)), 201


@api.get("/repos/<owner>/<name>/milestones/<int:number>")
def get_milestone(owner: str, name: str, number: int):
    repo = _repo(owner, name)
    milestone = catalog.get_milestone(db(), repo, repo_viewer(), number)
    return jsonify(_milestone_json(repo, milestone))


@api.patch("/repos/<owner>/<name>/milestones/<int:number>")
def update_milestone(owner: str, name: str, number: int):
    user, repo = _writer(owner, name)
    milestone = catalog.get_milestone(db(), repo, user, number)
    body = json_body()
    catalog.update_milestone(
        db(),
        repo,
        user,
        milestone,
        title=body.get("title"),
        state=body_field(body, "state", str),
        description=body_field(body, "description", str),
        due_on=iso_time(body.get("due_on"), "due_on"),
    )
    return jsonify(_milestone_json(repo, milestone))


@api.delete("/repos/<owner>/<name>/milestones/<int:number>")
def delete_milestone(owner: str, name: str, number: int):
    user, repo = _writer(owner, name)
    catalog.delete_milestone(db(), repo, user, catalog.get_milestone(db(), repo, user, number))
    return "", 204
