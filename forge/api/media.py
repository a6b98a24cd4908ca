"""GitHub's media types: what a client asks for in Accept beyond JSON.

`application/vnd.github.diff` (or `.v3.diff`) asks for a diff as `git diff` prints it,
`.patch` for `git format-patch` mails, `.raw` for a file's bytes and `.html` for a file
rendered; `+json` suffixes and the plain JSON types mean the usual JSON answer.
"""

from __future__ import annotations

import re

from flask import Response, request

MEDIA = re.compile(r"application/vnd\.github(?:\.[a-z0-9-]+)?\.(diff|patch|raw|html)(?:\+json)?\b")
# Only these name a format: `.v3` and `.squirrel-girl-preview` are versions and previews.
FORMATS = ("diff", "patch", "raw", "html")


def wanted() -> str | None:
    """'diff', 'patch', 'raw' or 'html' when the Accept header asks for one, else None."""
    for kind in MEDIA.findall(request.headers.get("Accept", "")):
        if kind in FORMATS:
            return kind
    return None


def text(data: bytes, kind: str) -> Response:
    """A diff or patch answered as GitHub does, in its own media type."""
    return Response(data, content_type=f"application/vnd.github.{kind}; charset=utf-8")


def raw(data: bytes) -> Response:
    return Response(data, mimetype="application/vnd.github.raw")


def html(markup: str) -> Response:
    return Response(markup, content_type="application/vnd.github.html; charset=utf-8")
