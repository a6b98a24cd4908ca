"""Markdown of issues, comments and change descriptions as pages show it: sanitized by
forge.repos.markup, then `#N` and `OWNER/REPO#N` made links to the issue or change they name
(only those that exist and that the viewer may read), outside code and existing links."""

from __future__ import annotations

import re

from markupsafe import Markup
from sqlalchemy.orm import Session

from forge.issues import references
from forge.models import Issue
from forge.repos.markup import render_markdown
from forge.web import external_url

_TAG = re.compile(r"(<[^>]+>)")
_SKIP = ("a", "code", "pre")


def issue_markdown(session: Session, repo, viewer, text: str) -> Markup:
    full_name = repo.full_name
    html = render_markdown(
        text or "",
        external_url(f"/{full_name}/blob/{repo.default_branch}"),
        external_url(f"/{full_name}/raw/{repo.default_branch}"),
        "",
    )
    return link_references(session, repo, viewer, html)


def link_references(session: Session, repo, viewer, html: Markup | str) -> Markup:
    """Sanitized HTML (forge.repos.markup's) with its `#N` references made links."""
    html = str(html)
    depth = dict.fromkeys(_SKIP, 0)
    out = []
    for part in _TAG.split(html):
        if part.startswith("<"):
            name = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
            if name in depth:
                depth[name] += -1 if part.startswith("</") else 1
            out.append(part)
        elif any(depth.values()):
            out.append(part)
        else:
            out.append(references.REFERENCE.sub(lambda m: _link(session, repo, viewer, m), part))
    return Markup("".join(out))


def _link(session: Session, repo, viewer, match: re.Match) -> str:
    mention = references.Mention(match["owner"], match["repo"], int(match["number"]), False)
    target = references.resolve(session, repo, viewer, mention)
    if target is None:
        return match.group(0)
    kind = "issues" if isinstance(target, Issue) else "pull"
    href = f"/{target.repository.full_name}/{kind}/{target.number}"
    title = Markup.escape(target.title)
    return f'<a class="issue-link" href="{href}" title="{title}">{match.group(0)}</a>'
