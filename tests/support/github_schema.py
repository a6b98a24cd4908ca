"""Check a forge answer against GitHub's own description of the same operation.

The description is the part of npm `@octokit/openapi` vendored in tests/github_schemas/openapi/
(see its README to update it, and tests/github_schemas/extract.py to vendor another operation).

    from support.github_schema import assert_github_response

    response = api("GET", "/repos/alice/project", token)
    assert_github_response("GET", "/repos/{owner}/{repo}", response.status_code, response.json())

The path template may use GitHub's or forge's parameter names (`{pull_number}` or `{number}`):
templates are compared with their parameters blanked. A failure lists every field that breaks
GitHub's schema, by JSON path, so one run shows all that a shape lacks.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

DESCRIPTION = (
    Path(__file__).resolve().parent.parent
    / "github_schemas"
    / "openapi"
    / "api.github.com.forge.json"
)
# forge paths GitHub spells differently (GitHub has no root form of contents).
ALIASES = {
    "/repos/{}/{}/contents": "/repos/{}/{}/contents/{}",
    "/repos/{}/{}/contents/": "/repos/{}/{}/contents/{}",
}
MAX_ERRORS = 25


def path_shape(path: str) -> str:
    """A path template with its parameters blanked, GitHub's spelling where forge's differs:
    forge's /x/{number} and GitHub's /x/{pull_number} have the same shape."""
    shaped = re.sub(r"\{[^}]*\}", "{}", path)
    return ALIASES.get(shaped, shaped)


@functools.cache
def description() -> dict:
    """The vendored description: operations, component schemas and the index of every
    operation api.github.com has."""
    return json.loads(DESCRIPTION.read_text())


@functools.cache
def _operations_by_shape() -> dict[tuple[str, str], str]:
    keys = {}
    for key in description()["operations"]:
        method, path = key.split(" ", 1)
        keys[(method, path_shape(path))] = key
    return keys


def operation_key(method: str, path_template: str) -> str | None:
    """ "METHOD /github/path" of the vendored operation for a path template, or None."""
    return _operations_by_shape().get((method.upper(), path_shape(path_template)))


@functools.cache
def _validator(key: str, status: str) -> Draft202012Validator | None:
    schema = description()["operations"][key]["responses"][status]
    if schema is None:
        return None
    # The schema's $refs ("#/components/schemas/...") resolve against its own root: the
    # components go there beside it.
    rooted = {**schema, "components": description()["components"]}
    return Draft202012Validator(rooted, format_checker=FormatChecker())


def _explain(error) -> list[str]:
    """An error as lines; for a value that matches none of a oneOf/anyOf's alternatives, the
    errors of the alternative it comes closest to (a user is public or private: say which
    fields the nearer one lacks)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        by_branch: dict[int, list] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        nearest = min(by_branch.values(), key=len)
        return [line for sub in nearest for line in _explain(sub)]
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    return [f"{error.json_path}: {message}"]


def github_response_errors(method: str, path_template: str, status: int, body) -> list[str]:
    """What in `body` breaks GitHub's schema for this answer (empty: nothing)."""
    key = operation_key(method, path_template)
    if key is None:
        raise AssertionError(
            f"{method} {path_template} is not in the vendored GitHub description: add it to "
            "WANTED in tests/github_schemas/extract.py and run the extract again"
        )
    responses = description()["operations"][key]["responses"]
    code = str(status)
    if code not in responses:
        return [f"GitHub documents no {status} answer for {key} (it has {', '.join(responses)})"]
    validator = _validator(key, code)
    if validator is None:
        # GitHub documents no body for some errors it answers with its usual error JSON (a
        # 404 of GET .../merge): only a 204 must really be empty.
        if status == 204 and body not in (None, "", b""):
            return [f"GitHub's 204 answer to {key} has no body, forge sent one"]
        return []
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    return [line for error in errors for line in _explain(error)]


def assert_github_response(method: str, path_template: str, status: int, body) -> None:
    """Fail with every field of `body` that breaks GitHub's schema for this operation and
    status (a path template with GitHub's or forge's parameter names)."""
    errors = github_response_errors(method, path_template, status, body)
    if errors:
        shown = "\n  ".join(errors[:MAX_ERRORS])
        more = f"\n  ... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise AssertionError(
            f"{method} {path_template} ({status}) does not match GitHub's schema:\n  {shown}{more}"
        )
