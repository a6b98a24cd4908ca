"""The text of a pull request, review or comment in the forms GitHub's body media types ask
for (forge.api.media.body_fields): the Markdown as written, rendered HTML (sanitized, as the
web pages show it) and plain text. github3.py asks for all three on every call."""

from __future__ import annotations

import html

import nh3

from forge.api.media import body_fields
from forge.api.shapes.links import building_payload, external_url
from forge.models import Repository
from forge.repos.markup import render_markdown


def body(text: str | None, repo: Repository, ref: str, nullable: bool = False) -> dict:
    """`body` and, when asked, `body_html` and `body_text`; relative links in the Markdown
    point into `repo` at `ref`, as on the web page. An empty `body` is null where GitHub's
    is (`nullable`: a pull request's), else the empty string."""
    # A webhook payload carries the Markdown alone, whatever the request that caused it asked.
    fields = ("body",) if building_payload() else body_fields()
    result = {}
    if "body" in fields:
        result["body"] = (text or None) if nullable else text
    if "body_html" in fields or "body_text" in fields:
        rendered = str(
            render_markdown(
                text or "",
                external_url(f"/{repo.full_name}/blob/{ref}"),
                external_url(f"/{repo.full_name}/raw/{ref}"),
                "",
            )
        )
        if "body_html" in fields:
            result["body_html"] = rendered if text else None
        if "body_text" in fields:
            plain = nh3.clean(rendered, tags=set()).strip()
            result["body_text"] = html.unescape(plain) if text else None
    return result
