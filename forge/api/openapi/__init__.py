"""GET /api/v3/openapi.json: the OpenAPI 3.1 document of every endpoint under /api/v3.

The document is written by hand as YAML in this folder: `base.yaml` holds what every area
shares (security schemes, parameters, answers, and the schemas of users, repositories, pull
requests and errors), and each other `*.yaml` file is one area of the API (`paths:` and, for
what only that area uses, `components:`). To document a new endpoint, add it to its area's
file, or add a file for a new area; tests/test_openapi.py fails until every route is in.

What every operation shares is added here when the files are merged, so an area file states
only what is particular to an endpoint:

- 401 (bad credentials) and 403 (a missing scope or permission, or the rate limit) on every
  operation; 404 where the path has parameters; 400 (unparsable JSON) and 413 (a body over
  FORGE_MAX_API_BODY_KB) where there is a request body; 422 (validation) on every write,
  since any write can find its subject in a state that refuses it (a closed pull request,
  ...), and on lists (a `per_page` or `page` that is no number);
  304 Not Modified on every GET (ETag / If-None-Match);
- the X-RateLimit-* headers on every answer, ETag on a GET's 200, Link on a list's 200;
- the area's name as the operation's tag.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml
from flask import jsonify

from forge.api import api
from forge.web import external_url

FOLDER = Path(__file__).parent
BASE = "base.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Used",
    "X-RateLimit-Resource",
)


class DocumentError(Exception):
    """The YAML files do not make one document (a path or schema defined twice, ...)."""


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _merge_area(document: dict, area: dict, source: str) -> None:
    for path, item in (area.get("paths") or {}).items():
        target = document["paths"].setdefault(path, {})
        for key, value in item.items():
            if key in target:
                raise DocumentError(f"{source}: {path} {key} is already defined elsewhere")
            target[key] = value
    for kind, entries in (area.get("components") or {}).items():
        target = document["components"].setdefault(kind, {})
        for name, value in entries.items():
            if name in target:
                raise DocumentError(f"{source}: components/{kind}/{name} is defined twice")
            target[name] = value


def _is_list(operation: dict) -> bool:
    return any(p.get("$ref", "").endswith("/per_page") for p in operation.get("parameters", []))


def _add_shared_answers(path: str, method: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", _ref("responses", "BadCredentials"))
    responses.setdefault("403", _ref("responses", "Forbidden"))
    if "{" in path:
        responses.setdefault("404", _ref("responses", "NotFound"))
    if "requestBody" in operation:
        responses.setdefault("400", _ref("responses", "BadJson"))
        responses.setdefault("413", _ref("responses", "TooLarge"))
    if method != "get" or _is_list(operation):
        responses.setdefault("422", _ref("responses", "ValidationFailed"))
    if method == "get":
        responses.setdefault("304", _ref("responses", "NotModified"))
    for status, response in responses.items():
        if "$ref" in response:
            continue
        headers = response.setdefault("headers", {})
        for name in RATE_HEADERS:
            headers.setdefault(name, _ref("headers", name))
        if method == "get" and status == "200":
            headers.setdefault("ETag", _ref("headers", "ETag"))
            if _is_list(operation):
                headers.setdefault("Link", _ref("headers", "Link"))


@functools.cache
def document() -> dict:
    """The merged document, without `servers` (those depend on the request)."""
    return load(FOLDER)


def load(folder: Path) -> dict:
    """Merge `folder`'s base.yaml and area files into one document; DocumentError if two
    files define the same operation or component."""
    base = yaml.safe_load((folder / BASE).read_text())
    base.setdefault("paths", {})
    for file in sorted(folder.glob("*.yaml")):
        if file.name == BASE:
            continue
        area = yaml.safe_load(file.read_text()) or {}
        for item in (area.get("paths") or {}).values():
            for method in METHODS:
                if method in item:
                    item[method].setdefault("tags", [file.stem])
        _merge_area(base, area, file.name)
    for path, item in base["paths"].items():
        for method in METHODS:
            if method in item:
                _add_shared_answers(path, method, item[method])
    for response in base["components"].get("responses", {}).values():
        headers = response.setdefault("headers", {})
        for name in RATE_HEADERS:
            headers.setdefault(name, _ref("headers", name))
    base["paths"] = dict(sorted(base["paths"].items()))
    return base


@api.get("/openapi.json")
def openapi_document():
    body = copy.copy(document())
    body["servers"] = [{"url": external_url(api.url_prefix)}]
    return jsonify(body)
