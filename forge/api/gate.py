"""What every request under /api/v3 passes through, as on GitHub, and GET /rate_limit.

On the way in: who is calling (a token, see `forge.api.auth`) and whether the rate limit lets
the call through (per user with a token, per client address without). On the way out: a weak
ETag on successful GETs with 304 Not Modified for a matching If-None-Match (a 304 is free, as
GitHub's), and the X-RateLimit-* headers on every answer, errors included.

These run for paths no view matches too (a 404 under /api/v3 is counted and answered in
GitHub's shape), which is why they hook the application, not only the blueprint.
"""

from __future__ import annotations

from flask import g, jsonify, request

from forge.accounts import rate_limits
from forge.api import api
from forge.api.auth import authenticate
from forge.api.errors import ApiError, error_response, validation_failed
from forge.api.shapes import meta as meta_shapes
from forge.web.context import redis_connection, settings

PREFIX = api.url_prefix
# Answers about the limit itself cost nothing, like GitHub's.
FREE_ENDPOINTS = {"api.rate_limit", "api.openapi_document"}


# GitHub's uploads host (release assets), served by this one: the same tokens and limits.
UPLOADS_PREFIX = "/api/uploads/"


def is_api_request() -> bool:
    path = request.path
    return path == PREFIX or path.startswith((PREFIX + "/", UPLOADS_PREFIX))


def _caller() -> tuple[str, int, str]:
    """The rate-limit bucket of this request, its limit, and how GitHub's message names it."""
    user = g.get("api_user")
    if user is not None:
        return f"user:{user.id}", settings().api_rate_limit, f"user ID {user.id}"
    address = request.remote_addr or "unknown"
    return f"ip:{address}", settings().api_anon_rate_limit, address


def _charge(cost: int) -> None:
    bucket, limit, who = _caller()
    state = rate_limits.charge(redis_connection(), bucket, limit, cost)
    g.api_rate = state
    g.api_rate_bucket = bucket if cost else None
    if state.refused:
        g.api_rate_bucket = None  # taken back already
        raise ApiError(403, f"API rate limit exceeded for {who}.")


@api.before_app_request
def admit():
    if not is_api_request():
        return
    cost = 0 if request.endpoint in FREE_ENDPOINTS else 1
    try:
        authenticate()
    except ApiError:
        # Bad credentials are charged to the address they came from, so guessing is limited.
        g.api_user = None
        _charge(cost)
        raise
    _charge(cost)
    return _refuse_nul()


def _refuse_nul():
    """A NUL character names nothing forge stores (and PostgreSQL refuses it in text), so a
    path holding one finds nothing, and a query holding one is invalid."""
    if "\x00" in request.path:
        return error_response(404, "Not Found")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            return validation_failed(f"{name} must not contain NUL characters", name)
    return None


@api.after_app_request
def finish(response):
    if not is_api_request():
        return response
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        response.headers.add("Vary", "Accept, Authorization")
        if not response.is_streamed:
            response.add_etag(weak=True)
            response.make_conditional(request)
    state = g.get("api_rate")
    if state is None:
        return response
    if response.status_code == 304 and g.get("api_rate_bucket"):
        rate_limits.refund(redis_connection(), g.api_rate_bucket)
        state = rate_limits.RateLimit(state.limit, state.used - 1, state.reset)
    response.headers.update(
        {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(state.reset),
            "X-RateLimit-Used": str(state.used),
            "X-RateLimit-Resource": state.resource,
        }
    )
    return response


@api.get("/rate_limit")
def rate_limit():
    return jsonify(meta_shapes.rate_limit(g.api_rate))
