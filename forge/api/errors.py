"""JSON error bodies in GitHub's shape: {"message": ..., "documentation_url": ...}."""

from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

from forge.api import api
from forge.services.errors import Forbidden, ForgeError, Invalid, NotFound, Throttled

DOCS = "https://docs.github.com/rest"


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


def domain_error_response(exc: ForgeError):
    if isinstance(exc, NotFound):
        return error_response(404, "Not Found")
    if isinstance(exc, Forbidden):
        return error_response(403, exc.message)
    if isinstance(exc, Throttled):
        return error_response(429, exc.message, {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Invalid):
        error = {"resource": "", "code": "invalid", "message": exc.message}
        if exc.field:
            error["field"] = exc.field
        return error_response(422, exc.message, errors=[error])
    return error_response(400, exc.message)


def http_error_response(exc: HTTPException):
    messages = {404: "Not Found", 405: "Method Not Allowed", 400: "Problems parsing JSON"}
    message = messages.get(exc.code) or exc.description or exc.name
    return error_response(exc.code or 500, message)


@api.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.headers)


@api.errorhandler(ForgeError)
def _domain_error(exc: ForgeError):
    return domain_error_response(exc)
