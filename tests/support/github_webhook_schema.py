"""Webhook payloads checked against GitHub's own description of them: the JSON schemas of
`@octokit/webhooks-schemas`, vendored in tests/github_schemas/webhooks (its README says which
version and how to update it).

`assert_valid_webhook(event, payload)` picks the schema GitHub gives the event and action
(`pull_request$opened`, or `push$event` for events without actions) and fails with every
violation listed, each with its path in the payload. forge's own events (`vote`,
`merge_queue`) have no GitHub schema; `assert_valid_forge_event` checks the GitHub objects they
carry (repository, sender, pull_request) against GitHub's definitions of those objects.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "github_schemas" / "webhooks" / "schema.json"

# The GitHub objects forge's own events carry, and the definition each must satisfy.
FORGE_EVENT_OBJECTS = {
    "repository": "repository",
    "sender": "user",
    "pull_request": "simple-pull-request",
}


@cache
def definitions() -> dict:
    """GitHub's webhook schema definitions, by name."""
    return json.loads(SCHEMA_PATH.read_text())["definitions"]


def _format_checker() -> FormatChecker:
    """jsonschema's format checks (date-time, email, ...), and `uri` as GitHub means it: an
    absolute URL, so a relative link a receiver cannot follow fails."""
    checker = FormatChecker()

    @checker.checks("uri")
    def absolute_uri(value) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and bool(parts.netloc)

    return checker


@cache
def _validator(definition: str) -> Draft7Validator:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions()}
    return Draft7Validator(schema, format_checker=_format_checker())


def schema_name(event: str, payload: dict) -> str:
    """The definition GitHub gives this event (and action); KeyError when it has none."""
    known = definitions()
    action = payload.get("action")
    for name in (f"{event}${action}", f"{event}$event"):
        if name in known:
            return name
    raise KeyError(f"GitHub's webhook schemas describe no {event!r} event with action {action!r}")


def violations(definition: str, instance) -> list[str]:
    """Every way `instance` breaks the definition, as 'path: message' lines."""
    errors = sorted(_validator(definition).iter_errors(instance), key=lambda e: list(e.path))
    lines = []
    for error in errors:
        # A oneOf/anyOf failure alone says little: its closest sub-errors say which field.
        detail = error
        while detail.context:
            detail = best_match(detail.context)
        path = "/".join(str(p) for p in detail.absolute_path) or "(root)"
        lines.append(f"{path}: {detail.message[:300]}")
    return list(dict.fromkeys(lines))


def assert_valid_webhook(event: str, payload: dict) -> None:
    """Fail unless `payload` is what GitHub's schema says a `event` delivery holds."""
    name = schema_name(event, payload)
    found = violations(name, payload)
    assert not found, f"{event} payload breaks GitHub's {name} schema:\n  " + "\n  ".join(found)


def assert_valid_forge_event(event: str, payload: dict) -> None:
    """forge's own events: the GitHub objects in them are as GitHub describes those objects."""
    found = []
    for key, definition in FORGE_EVENT_OBJECTS.items():
        if payload.get(key) is not None:
            found += [f"{key}/{line}" for line in violations(definition, payload[key])]
    assert not found, f"{event} payload's GitHub objects break GitHub's schemas:\n  " + (
        "\n  ".join(found)
    )
