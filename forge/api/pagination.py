"""GitHub-style pagination: ?per_page= and ?page=, with a Link header to the other pages."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from forge.errors import Invalid
from forge.web import external_url

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def page_args() -> tuple[int, int]:
    numbers = []
    for name, default in (("per_page", DEFAULT_PER_PAGE), ("page", 1)):
        try:
            numbers.append(int(request.args.get(name, default)))
        except ValueError:
            raise Invalid(f"{name} must be a whole number", field=name) from None
    per_page, page = numbers
    # As GitHub: past the maximum means the maximum, and nothing below 1 exists.
    return max(1, min(per_page, MAX_PER_PAGE)), max(1, page)


def paginate(items, make_json) -> tuple[list, dict]:
    """Slice `items` for the requested page; returns the JSON list and the Link header."""
    per_page, page = page_args()
    chunk = items[(page - 1) * per_page : page * per_page]
    return [make_json(item) for item in chunk], link_header(page, per_page, total=len(items))


def link_header(page: int, per_page: int, total: int | None = None, has_next: bool = False):
    """GitHub's Link header for page `page` of a list: next and last, first and prev. A list
    that does not count its items (`total` None) says only whether there is a next page."""
    last = max(1, -(-total // per_page)) if total is not None else None

    def url(n: int) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        args.update(per_page=per_page, page=n)
        # The external URL, as in every other link forge answers with: behind a proxy the
        # address the request arrived on is not one the client can reach.
        return f"{external_url(request.path)}?{urlencode(args)}"

    links = []
    if (last is not None and page < last) or (last is None and has_next):
        links.append(f'<{url(page + 1)}>; rel="next"')
    if last is not None and page < last:
        links.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        previous = page - 1 if last is None else min(page - 1, last)
        links += [f'<{url(1)}>; rel="first"', f'<{url(previous)}>; rel="prev"']
    return {"Link": ", ".join(links)} if links else {}
