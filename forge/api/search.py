"""GET /search/repositories, /search/issues, /search/code and /search/users (PyGithub's
`search_repositories`, `search_issues`, `search_code`, `search_users`).

Whom results are judged for is `repo_viewer()`: a token without the `repo` scope searches as
an anonymous caller, as it reads everything else.
"""

from flask import jsonify, request

from forge.accounts.permissions import role_of
from forge.api import api
from forge.api.auth import repo_viewer
from forge.api.pagination import link_header, page_args
from forge.api.shapes import search as shapes
from forge.errors import Invalid
from forge.issues import tracker
from forge.search import service
from forge.web.context import db

MAX_QUERY = 256  # characters, as GitHub


def _query() -> str:
    text = request.args.get("q", "")
    if not text.strip():
        raise Invalid("q is missing", field="q")
    if len(text) > MAX_QUERY or "\0" in text:
        raise Invalid(f"q must be at most {MAX_QUERY} characters of text", field="q")
    return text


def _text_matches() -> bool:
    return "text-match" in request.headers.get("Accept", "")


def _answer(results, items, **extra):
    per_page, page = page_args()
    headers = link_header(page, per_page, total=min(results.total, service.MAX_RESULTS))
    return jsonify(shapes.answer(results, items, **extra)), 200, headers


def _sort_args():
    order = request.args.get("order")
    if order not in (None, "asc", "desc"):
        raise Invalid("order must be asc or desc", field="order")
    return request.args.get("sort") or None, order


@api.get("/search/repositories")
def search_repositories():
    per_page, page = page_args()
    sort, order = _sort_args()
    viewer = repo_viewer()
    results = service.search_repositories(db(), viewer, _query(), page, per_page, sort, order)
    matches = _text_matches()
    items = [
        shapes.repository_hit(hit, role_of(db(), viewer, hit.repository), matches)
        for hit in results.hits
    ]
    return _answer(results, items)


@api.get("/search/issues")
def search_issues():
    per_page, page = page_args()
    sort, order = _sort_args()
    results = service.search_changes(db(), repo_viewer(), _query(), page, per_page, sort, order)
    matches = _text_matches()
    issue_ids = [hit.issue.id for hit in results.hits if hit.issue is not None]
    comments = tracker.comment_counts(db(), issue_ids) if issue_ids else {}
    items = [
        shapes.change_hit(hit, matches)
        if hit.issue is None
        else shapes.issue_hit(hit, matches, comments.get(hit.issue.id, 0))
        for hit in results.hits
    ]
    # GitHub says which of its searches answered; forge's is always the lexical one.
    return _answer(results, items, search_type="lexical")


@api.get("/search/code")
def search_code():
    per_page, page = page_args()
    results = service.search_code(db(), repo_viewer(), _query(), page, per_page)
    matches = _text_matches()
    return _answer(results, [shapes.code_hit(hit, matches) for hit in results.hits])


@api.get("/search/users")
def search_users():
    per_page, page = page_args()
    results = service.search_users(db(), _query(), page, per_page)
    return _answer(results, [shapes.user_hit(hit) for hit in results.hits])
