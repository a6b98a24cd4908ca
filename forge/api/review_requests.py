"""Review requests of a pull request: GET, POST and DELETE .../pulls/{n}/requested_reviewers."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pulls import pull_json, pull_of
from forge.api.shapes.users import simple_user
from forge.errors import Invalid
from forge.review import review_requests
from forge.web.context import db

REQUESTED = "/repos/<owner>/<name>/pulls/<int:number>/requested_reviewers"


@api.get(REQUESTED)
def list_requested_reviewers(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    users = review_requests.requested(db(), change)
    return jsonify({"users": [simple_user(u) for u in users], "teams": []})


def _reviewers(body: dict) -> list:
    if body_field(body, "team_reviewers", list):
        raise Invalid("forge has no teams: ask users to review", field="team_reviewers")
    return body_field(body, "reviewers", list, []) or []


@api.post(REQUESTED)
def request_reviewers(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    review_requests.request_reviews(db(), user, change, _reviewers(json_body()))
    return jsonify(pull_json(change)), 201


@api.delete(REQUESTED)
def remove_requested_reviewers(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    review_requests.withdraw_requests(db(), user, change, _reviewers(json_body()))
    return jsonify(pull_json(change))
