"""Who is calling the API: a personal access token in the Authorization header."""

from __future__ import annotations

import base64

from flask import g, request

from forge.accounts.users import TOKEN_PREFIX, user_for_token
from forge.api import api
from forge.api.errors import ApiError
from forge.models import User
from forge.web.context import db


def _token_from_header(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer"):
        return value.strip()
    if scheme == "basic":
        # Like GitHub: any username, the token as the password.
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def authenticate():
    """Who calls: run for every /api/v3 request by `forge.api.gate` (before the rate limit)."""
    g.api_user, g.api_scopes = None, frozenset()
    header = request.headers.get("Authorization")
    if not header:
        return
    secret = _token_from_header(header)
    found = user_for_token(db(), secret) if secret else None
    if found is None:
        if header.strip().lower().startswith("basic ") and not secret.startswith(TOKEN_PREFIX):
            # An account's password (two-factor sign-in or not) is never checked here, so it
            # cannot skip the second factor: say what works instead.
            raise ApiError(
                401,
                "Bad credentials: the API takes a personal access token as the password, "
                "not the account's password (Settings, Access tokens)",
            )
        raise ApiError(401, "Bad credentials")
    g.api_user, token = found
    g.api_scopes = frozenset(token.scope_list)


def current_user() -> User | None:
    return g.api_user


def require_user() -> User:
    if g.api_user is None:
        raise ApiError(401, "Requires authentication")
    return g.api_user


def require_scope(scope: str) -> User:
    user = require_user()
    if scope not in g.api_scopes:
        raise ApiError(403, f"This token lacks the '{scope}' scope needed here")
    return user


def repo_viewer() -> User | None:
    """Whom repository access is judged for: a token without `repo` sees public ones only."""
    return g.api_user if "repo" in g.api_scopes else None


@api.after_request
def scope_headers(response):
    if g.get("api_user") is not None:
        response.headers["X-OAuth-Scopes"] = ", ".join(sorted(g.api_scopes))
    return response
