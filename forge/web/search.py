"""The top bar's search: /search?q=...&type=repositories|changes|code (changes and issues share
a tab, as GitHub's issue search finds both), a results page with a tab per kind (each with its
count), pagination and the matched words marked."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from forge.errors import Invalid
from forge.search import service
from forge.web.context import db, viewer

bp = Blueprint("search", __name__)
PER_PAGE = 20
MAX_QUERY = 256
KINDS = {
    "repositories": service.search_repositories,
    "changes": service.search_changes,
    "code": service.search_code,
}


@bp.get("/search")
def results():
    text = (request.args.get("q") or "").replace("\0", "")[:MAX_QUERY]
    kind = request.args.get("type") if request.args.get("type") in KINDS else "repositories"
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    found, counts, error = None, {}, None
    if text.strip():
        try:
            for name, search in KINDS.items():
                # The other tabs only need their counts: one hit is enough to get the total.
                if name == kind:
                    found = search(db(), viewer(), text, page, PER_PAGE)
                    counts[name] = found.total
                else:
                    counts[name] = search(db(), viewer(), text, 1, 1).total
        except Invalid as exc:
            found, counts, error = None, {}, str(exc)
    if found is None and not text.strip() and request.args.get("type") is None:
        kind = "repositories"
    status = 422 if error else 200
    return render_template(
        "search.html", q=text, kind=kind, found=found, counts=counts, error=error, page=page
    ), status
