"""JSON error bodies in GitHub's shape, the one error format of /api/v3.

Every error answers {"message": ..., "documentation_url": ...}; a 422 adds
`errors: [{"resource", "field", "code", "message"}]` naming what was wrong where. Domain errors
(NotFound, Forbidden, Invalid, Throttled) and HTTP errors (404 for an unknown path, 405, 500)
are translated here and nowhere else.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from forge.api import api
from forge.errors import Conflict, Forbidden, ForgeError, Invalid, NotFound, Throttled

DOCS = "https://docs.github.com/rest"

# The resource a 422 is about, by the module of the view that refused (GitHub names it, e.g.
# "PullRequest" or "Hook"). A module missing here answers an empty resource; add yours.
RESOURCES = {
    "forge.api.users": "User",
    "forge.api.repos": "Repository",
    "forge.api.branches": "Reference",
    "forge.api.statuses": "Status",
    "forge.api.contents": "Repository",
    "forge.api.commits": "Commit",
    "forge.api.git_data": "GitObject",
    "forge.api.emails": "User",
    "forge.api.pulls": "PullRequest",
    "forge.api.pull_reviews": "PullRequestReview",
    "forge.api.review_requests": "PullRequest",
    "forge.api.protection_checks": "RequiredStatusChecks",
    "forge.api.comments": "Comment",
    "forge.api.hooks": "Hook",
    "forge.api.notifications": "Notification",
    "forge.api.orgs": "Organization",
    "forge.api.actions": "WorkflowRun",
    "forge.api.review_queue": "PullRequest",
    "forge.api.reputation": "User",
    "forge.api.votes": "Vote",
    "forge.api.releases": "Release",
    "forge.api.stars": "Repository",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict | None = None, **extra):
    body = {"message": message, "documentation_url": DOCS, **extra}
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _resource() -> str:
    view = current_app.view_functions.get(request.endpoint or "")
    return RESOURCES.get(getattr(view, "__module__", ""), "")


def validation_failed(message: str, field: str | None, code: str = "invalid"):
    """A 422 as GitHub answers it; `message` says what is wrong in words a user can act on."""
    error = {"resource": _resource(), "field": field, "code": code, "message": message}
    return error_response(422, message, errors=[error])


def domain_error_response(exc: ForgeError):
    if isinstance(exc, NotFound):
        return error_response(404, "Not Found")
    if isinstance(exc, Forbidden):
        return error_response(403, exc.message)
    if isinstance(exc, Conflict):
        return error_response(409, exc.message)
    if isinstance(exc, Throttled):
        return error_response(429, exc.message, {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Invalid):
        return validation_failed(exc.message, exc.field)
    return error_response(400, exc.message)


def http_error_response(exc: HTTPException):
    messages = {
        400: "Problems parsing JSON",
        404: "Not Found",
        405: "Method Not Allowed",
        500: "Server Error",
    }
    message = messages.get(exc.code) or exc.description or exc.name
    response = error_response(exc.code or 500, message)
    allow = dict(exc.get_headers()).get("Allow")  # a 405 names the methods the path takes
    if allow:
        response.headers["Allow"] = allow
    return response


# Application-wide: ApiError is raised only by API code, and also before any view is matched
# (bad credentials, rate limit), when the blueprint's own handlers do not apply yet.
@api.app_errorhandler(ApiError)
def _api_error(exc: ApiError):
    if exc.status == 422:  # every 422 says what was wrong in `errors`
        return validation_failed(exc.message, None)
    return error_response(exc.status, exc.message, exc.headers)


@api.errorhandler(ForgeError)
def _domain_error(exc: ForgeError):
    return domain_error_response(exc)
