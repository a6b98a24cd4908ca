"""GET /user, PATCH /user, GET /users/{u}."""

from flask import jsonify, request

from forge.accounts import email_links
from forge.accounts.users import change_email, get_user
from forge.api import api
from forge.api.auth import require_scope, require_user
from forge.api.shapes import users as user_shapes
from forge.errors import Invalid
from forge.repos.repositories import account_usage, visible_repositories
from forge.web.context import db, settings


def _public_repo_count(user) -> int:
    return len(visible_repositories(db(), None, owner=user))


def _own_profile(user) -> dict:
    usage = account_usage(db(), settings().repos_dir, user)
    return user_shapes.full_user(user, _public_repo_count(user), usage)


@api.get("/user")
def authenticated_user():
    user = require_user()
    return jsonify(_own_profile(user))


@api.patch("/user")
def update_authenticated_user():
    user = require_scope("user")
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise Invalid("send a JSON object")
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 100:
            raise Invalid("name must be a string of at most 100 characters", field="name")
        user.full_name = body["name"].strip()
    if "email" in body:
        if not isinstance(body["email"], str):
            raise Invalid("invalid email address", field="email")
        # Unique regardless of case, and unverified until the link mailed to it is opened.
        if change_email(db(), user, body["email"]) and not user.email_verified:
            base_url = settings().base_url or request.host_url.rstrip("/")
            email_links.send_verification(
                db(), user, settings().smtp, base_url, settings().secret_key
            )
    return jsonify(_own_profile(user))


@api.get("/users/<username>")
def user_profile(username: str):
    user = get_user(db(), username)
    return jsonify(user_shapes.full_user(user, _public_repo_count(user)))
