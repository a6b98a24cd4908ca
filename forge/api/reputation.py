"""GET /users/{u}/reputation (forge's own): a user's reputation, review accuracy and the
logged events behind them, newest first; `?repository=o/r` for the per-repository view."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts import reputation
from forge.accounts.users import get_user
from forge.api import api
from forge.api.auth import current_user, repo_viewer
from forge.api.pagination import link_header, page_args
from forge.api.shapes import reputation as reputation_shapes
from forge.repos.repositories import repository_filter
from forge.web.context import db


@api.get("/users/<username>/reputation")
def user_reputation(username: str):
    user = get_user(db(), username)
    per_page, page = page_args()
    repo = repository_filter(db(), request.args.get("repository"), repo_viewer())
    summary = reputation.summary_of(db(), user, repo)
    viewer = repo_viewer() if current_user() is not None else None
    items, total = reputation.history(
        db(), viewer, user, repo, limit=per_page, offset=(page - 1) * per_page
    )
    headers = link_header(page, per_page, total=total)
    return jsonify(reputation_shapes.reputation(summary, items)), 200, headers
