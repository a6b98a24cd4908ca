"""Reading request bodies of the API: the JSON object, and typed fields of it, with the
errors GitHub answers (400 for what is not JSON, 422 naming the field that is wrong).

Bodies are bounded before they are read (FORGE_MAX_API_BODY_KB, 413: see forge.app), and
JSON nested deeper than MAX_JSON_DEPTH is not JSON to forge (400), never a RecursionError.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request
from flask.json.provider import DefaultJSONProvider

from forge.api.errors import ApiError
from forge.errors import Invalid

MAX_JSON_DEPTH = 64  # arrays and objects inside one another; no API body needs more than a few


class BoundedJSONProvider(DefaultJSONProvider):
    """The app's JSON: parsing refuses (ValueError, so `get_json` treats it as bad JSON) what
    nests deeper than MAX_JSON_DEPTH."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:  # deeper than the parser itself can go
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if too_deep(value, MAX_JSON_DEPTH):
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def too_deep(value, limit: int) -> bool:
    """Does `value` hold arrays or objects nested more than `limit` deep? (No recursion.)"""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def json_body() -> dict:
    """The request's JSON object ({} for no body; 400 for anything else)."""
    body = request.get_json(force=True, silent=True)
    if body is None and not request.get_data():
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    _refuse_nul(body, None)
    return body


def _refuse_nul(value, field: str | None) -> None:
    """No stored text may hold a NUL character (PostgreSQL refuses them): say so up front."""
    if isinstance(value, str) and "\x00" in value:
        raise Invalid(f"{field or 'a value'} must not contain NUL characters", field=field)
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, field)
            _refuse_nul(item, key)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, field)


def body_field(body: dict, name: str, kind: type, default=None):
    """`body[name]` if it is a `kind` (422 naming the field if not), else `default`."""
    value = body.get(name, default)
    if value is not None and not isinstance(value, kind):
        raise Invalid(f"{name} must be a {kind.__name__}", field=name)
    if kind is int and value is not None and not -(2**31) <= value < 2**31:
        # Past what an integer column holds; no id, count or line number is that large.
        raise Invalid(f"{name} is out of range", field=name)
    return value


def iso_time(value, name: str) -> datetime | None:
    """An ISO 8601 time from a query parameter or a body field (UTC when no zone is given);
    422 naming the field when it is not one."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"{name} must be an ISO 8601 time such as 2024-05-01T12:00:00Z", name
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def person_field(body: dict, name: str) -> tuple[str, str] | None:
    """An author or committer `{"name", "email"}` of a git write, as (name, email); None when
    not given. Both parts are needed: a commit names a person by both."""
    given = body_field(body, name, dict)
    if given is None:
        return None
    person, email = body_field(given, "name", str), body_field(given, "email", str)
    if not person or not email:
        raise Invalid(f"{name} needs both name and email", field=name)
    return person, email
