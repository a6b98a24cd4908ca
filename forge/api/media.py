"""GitHub's media types: what a client asks for in Accept beyond JSON.

`application/vnd.github.diff` (or `.v3.diff`) asks for a diff as `git diff` prints it,
`.patch` for `git format-patch` mails, `.raw` for a file's bytes and `.html` for a file
rendered; `+json` suffixes and the plain JSON types mean the usual JSON answer.
"""

from __future__ import annotations

import re

from flask import Response, has_request_context, request

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


# What a `body` comes back as (GitHub's comment body media types): `.raw+json` the Markdown,
# `.text+json` plain text, `.html+json` rendered HTML, `.full+json` all three; plain JSON
# (and no Accept) the Markdown.
BODY_MEDIA = re.compile(r"application/vnd\.github(?:\.v3)?\.(raw|text|html|full)\+json\b")
BODY_FIELDS = {
    "raw": ("body",),
    "text": ("body_text",),
    "html": ("body_html",),
    "full": ("body", "body_text", "body_html"),
}


def body_fields() -> tuple[str, ...]:
    """Which of body, body_text and body_html the request's Accept asks for (outside a
    request, as for a webhook payload: the Markdown body alone)."""
    if not has_request_context():
        return ("body",)
    found = BODY_MEDIA.findall(request.headers.get("Accept", ""))
    return BODY_FIELDS[found[0]] if found else ("body",)
