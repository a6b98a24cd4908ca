"""GitHub-style pagination: ?per_page= and ?page=, with a Link header to the other pages."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from forge.services.errors import Invalid
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


def paginate(items: list, make_json) -> tuple[list, dict]:
    """Slice `items` for the requested page; returns the JSON list and the Link header."""
    per_page, page = page_args()
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    links = []

    def url(n: int) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        args.update(per_page=per_page, page=n)
        # The external URL, as in every other link forge answers with: behind a proxy the
        # address the request arrived on is not one the client can reach.
        return f"{external_url(request.path)}?{urlencode(args)}"

    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
    headers = {"Link": ", ".join(links)} if links else {}
    return [make_json(item) for item in chunk], headers
