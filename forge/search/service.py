"""The searches: repositories, changes and issues, code and users, each a page of hits the viewer
may see.

Each takes what was typed (words, phrases, GitHub's qualifiers), the viewer (None: anonymous;
the API passes None for a token without the `repo` scope), a page number and size, and returns
`Results`: the total, the page's hits (best match first unless sorted otherwise) and notes on
what the index lacks. Bad qualifiers raise `Invalid`, which the API answers 422 as GitHub does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from forge.errors import Invalid
from forge.models import Change, Issue, Repository, User
from forge.models.search import CHANGE, CODE, ISSUE, REPOSITORY, CodeIndexState, SearchDocument
from forge.search import highlight
from forge.search.code_index import LANGUAGES, CodeLimits
from forge.search.engines import engine_for
from forge.search.query import SearchQuery, parse
from forge.search.visibility import readable_repositories, visible_changes

# GitHub answers at most the first 1,000 results of a search.
MAX_RESULTS = 1000
HIDDEN = (
    "The listed users and repositories cannot be searched either because the resources do "
    "not exist or you do not have permission to view them."
)


@dataclass
class Hit:
    kind: str
    repository: Repository
    rank: float | None = None
    change: Change | None = None
    issue: Issue | None = None
    user: User | None = None
    path: str = ""
    blob_sha: str = ""
    size: int = 0
    language: str = ""
    title: highlight.Fragment | None = None
    body: highlight.Fragment | None = None
    lines: list = field(default_factory=list)  # code: groups of highlight.Fragment


@dataclass
class Results:
    kind: str
    query: SearchQuery
    total: int
    hits: list[Any]
    page: int
    per_page: int
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, MAX_RESULTS) // self.per_page))


def _bounded_page(page: int, per_page: int) -> tuple[int, int]:
    per_page = max(1, min(per_page, 100))
    page = max(1, page)
    if (page - 1) * per_page >= MAX_RESULTS:
        raise Invalid("Only the first 1000 search results are available", field="page")
    return page, per_page


def _ranked(session: Session, query: Select, parsed: SearchQuery, title_only=False):
    """Join the engine's matches when words were typed; (query, rank column or None)."""
    if not parsed.positive:
        return query, None
    matches = engine_for(session).matching(parsed.terms, title_only=title_only).subquery("m")
    return query.join(matches, matches.c.id == SearchDocument.id), matches.c.rank


def _owner_and_repo_filters(session: Session, parsed: SearchQuery, viewer) -> list:
    conditions = []
    owners = parsed.values("user") + parsed.values("org")
    if owners:
        found = select(User.id).where(User.lower_name.in_([o.lower() for o in owners]))
        if session.scalar(select(func.count()).select_from(found.subquery())) == 0:
            raise Invalid(HIDDEN, field="q")
        conditions.append(Repository.owner_id.in_(found))
    repos = parsed.values("repo")
    if repos:
        wanted = []
        for full_name in repos:
            owner, _, name = full_name.partition("/")
            wanted.append(
                and_(User.lower_name == owner.lower(), Repository.lower_name == name.lower())
            )
        named = select(Repository.id).join(User, User.id == Repository.owner_id).where(or_(*wanted))
        readable = readable_repositories(viewer)
        if readable is not None:
            named = named.where(readable)
        ids = list(session.scalars(named))
        if len(ids) < len(set(r.lower() for r in repos)):
            raise Invalid(HIDDEN, field="q")
        conditions.append(Repository.id.in_(ids))
    return conditions


def _visibility(parsed: SearchQuery, viewer) -> list:
    conditions = []
    readable = readable_repositories(viewer)
    if readable is not None:
        conditions.append(readable)
    for value in parsed.values("is"):
        if value.lower() == "public":
            conditions.append(Repository.is_private.is_(False))
        elif value.lower() == "private":
            conditions.append(Repository.is_private.is_(True))
    return conditions


def _page(session, query, rank, order_by, page, per_page):
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    ordering = ([rank] if rank is not None else []) + order_by
    rows = session.execute(
        query.order_by(*ordering).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return total or 0, rows


def _sorted_page(session, query, rank, sort_order, sorts: dict, newest, page, per_page):
    """A page in the order asked for (`sort` among `sorts`), else best match first when words
    were typed; then the most recently updated first."""
    chosen = _sorting(*sort_order, sorts)
    if chosen is not None:
        rank = None
    # Ties (the same second) keep the asked direction, by id: the order of creation.
    tie = newest[1].asc() if chosen is not None and sort_order[1] == "asc" else newest[1].desc()
    ordering = (chosen or [newest[0].desc()]) + [tie]
    return _page(session, query, rank, ordering, page, per_page)


def _check_is(parsed: SearchQuery, allowed: set[str]) -> None:
    for value in parsed.values("is"):
        if value.lower() not in allowed:
            known = ", ".join(sorted(allowed))
            raise Invalid(f"is:{value} is not a search qualifier here ({known})", field="q")


def _sorting(sort: str | None, order: str | None, columns: dict) -> list | None:
    if not sort:
        return None
    if sort not in columns:
        raise Invalid(f"sort must be one of {', '.join(sorted(columns))}", field="sort")
    column = columns[sort]
    return [column.asc() if order == "asc" else column.desc()]


REPOSITORY_QUALIFIERS = frozenset({"user", "org", "repo", "is", "in"})


def search_repositories(session, viewer, text, page=1, per_page=30, sort=None, order=None):
    page, per_page = _bounded_page(page, per_page)
    parsed = parse(text, REPOSITORY_QUALIFIERS)
    _check_is(parsed, {"public", "private"})
    query = select(Repository, SearchDocument).join(
        SearchDocument,
        and_(SearchDocument.repository_id == Repository.id, SearchDocument.kind == REPOSITORY),
    )
    query, rank = _ranked(session, query, parsed, "name" in parsed.values("in"))
    query = query.where(
        *_visibility(parsed, viewer), *_owner_and_repo_filters(session, parsed, viewer)
    )
    sorts = {"updated": Repository.updated_at}
    newest = (Repository.updated_at, Repository.id)
    total, rows = _sorted_page(session, query, rank, (sort, order), sorts, newest, page, per_page)
    words = parsed.words()
    hits = [
        Hit(
            kind=REPOSITORY,
            repository=repo,
            title=highlight.marked(repo.full_name, words),
            body=highlight.marked(repo.description or "", words),
        )
        for repo, _document in rows
    ]
    return Results(REPOSITORY, parsed, total, hits, page, per_page)


CHANGE_QUALIFIERS = frozenset({"user", "org", "repo", "is", "in", "author", "state", "type"})
CHANGE_STATES = {"open": ("open",), "closed": ("closed", "merged"), "merged": ("merged",)}


def search_changes(session, viewer, text, page=1, per_page=30, sort=None, order=None):
    """Changes and issues, as GitHub's /search/issues finds pull requests and issues (`is:pr`
    or `type:pr` keeps the changes, `is:issue` the issues)."""
    page, per_page = _bounded_page(page, per_page)
    parsed = parse(text, CHANGE_QUALIFIERS)
    _check_is(parsed, {"pr", "issue", "open", "closed", "merged", "unmerged", "public", "private"})
    kinds = {v.lower() for v in parsed.values("is") + parsed.values("type")}
    wanted = [kind for kind, word in ((CHANGE, "pr"), (ISSUE, "issue")) if word in kinds]
    query = (
        select(SearchDocument, Repository, Change, Issue)
        .join(Repository, Repository.id == SearchDocument.repository_id)
        .outerjoin(
            Change, and_(SearchDocument.kind == CHANGE, Change.id == SearchDocument.target_id)
        )
        .outerjoin(Issue, and_(SearchDocument.kind == ISSUE, Issue.id == SearchDocument.target_id))
        .where(SearchDocument.kind.in_(wanted or [CHANGE, ISSUE]))
    )
    query, rank = _ranked(session, query, parsed, "title" in parsed.values("in"))
    conditions = _visibility(parsed, viewer) + _owner_and_repo_filters(session, parsed, viewer)
    private = visible_changes(viewer)
    if private is not None:  # private changes, as Gerrit's; an issue is as its repository
        conditions.append(or_(SearchDocument.kind == ISSUE, private))
    state = func.coalesce(Change.state, Issue.state)
    for value in parsed.values("is") + parsed.values("state"):
        value = value.lower()
        if value in CHANGE_STATES:
            conditions.append(state.in_(CHANGE_STATES[value]))
        elif value == "unmerged":
            conditions.append(Change.state == "closed")
    if parsed.values("state") and not set(v.lower() for v in parsed.values("state")) <= {
        "open",
        "closed",
    }:
        raise Invalid("state must be open or closed", field="q")
    for login in parsed.values("author"):
        author = select(User.id).where(User.lower_name == login.lower())
        conditions.append(func.coalesce(Change.author_id, Issue.author_id).in_(author))
    query = query.where(*conditions)
    created = func.coalesce(Change.created_at, Issue.created_at)
    updated = func.coalesce(Change.updated_at, Issue.updated_at)
    sorts = {"created": created, "updated": updated}
    newest = (updated, SearchDocument.id)
    total, rows = _sorted_page(session, query, rank, (sort, order), sorts, newest, page, per_page)
    words = parsed.words()
    hits = [
        Hit(
            kind=document.kind,
            repository=repo,
            change=change,
            issue=issue,
            title=highlight.marked(document.title, words),
            body=highlight.marked((document.body or "")[:500], words),
        )
        for document, repo, change, issue in rows
    ]
    return Results(CHANGE, parsed, total, hits, page, per_page)


CODE_QUALIFIERS = frozenset({"user", "org", "repo", "path", "language", "extension", "filename"})


def _path_condition(path: str):
    path = path.strip("/")
    if not path:
        return None
    if "*" in path:
        return SearchDocument.key.like(path.replace("%", r"\%").replace("*", "%"), escape="\\")
    escaped = path.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return or_(
        SearchDocument.key == path,
        SearchDocument.key.like(escaped + "/%", escape="\\"),
        SearchDocument.key.like("%/" + escaped + "/%", escape="\\"),
    )


def search_code(session, viewer, text, page=1, per_page=30, limits: CodeLimits = CodeLimits()):
    """The default branch's files of the repositories the viewer may read."""
    page, per_page = _bounded_page(page, per_page)
    parsed = parse(text, CODE_QUALIFIERS)
    query = (
        select(SearchDocument, Repository)
        .join(Repository, Repository.id == SearchDocument.repository_id)
        .where(SearchDocument.kind == CODE)
    )
    query, rank = _ranked(session, query, parsed)
    in_scope = _visibility(parsed, viewer) + _owner_and_repo_filters(session, parsed, viewer)
    conditions = list(in_scope)
    for path in parsed.values("path"):
        condition = _path_condition(path)
        if condition is not None:
            conditions.append(condition)
    for name in parsed.values("filename"):
        escaped = name.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        conditions.append(
            or_(SearchDocument.key == name, SearchDocument.key.like("%/" + escaped, escape="\\"))
        )
    languages = [v.lower() for v in parsed.values("language")]
    if languages:
        conditions.append(SearchDocument.language.in_(languages))
    for extension in parsed.values("extension"):
        extension = extension.lstrip(".").replace("%", r"\%").replace("_", r"\_")
        conditions.append(SearchDocument.key.like(f"%.{extension}", escape="\\"))
    query = query.where(*conditions)
    total, rows = _page(session, query, rank, [Repository.id, SearchDocument.key], page, per_page)
    words = parsed.words()
    hits = [
        Hit(
            kind=CODE,
            repository=repo,
            path=doc.key,
            blob_sha=doc.blob_sha,
            size=doc.size,
            language=doc.language,
            title=highlight.marked(doc.key, words),
            lines=highlight.line_fragments(doc.body, words),
        )
        for doc, repo in rows
    ]
    results = Results(CODE, parsed, total, hits, page, per_page)
    _code_notes(session, results, {repo.id for _doc, repo in rows}, in_scope, limits)
    return results


def _code_notes(session, results: Results, shown: set, in_scope: list, limits) -> None:
    """Say where the index is partial: files left out of the repositories searched (those
    named by repo:, user: or org:, else those of the hits shown)."""
    named = results.query.values("repo") + results.query.values("user")
    if named or results.query.values("org"):
        scope = select(Repository.id).where(*in_scope)
    else:
        scope = select(Repository.id).where(Repository.id.in_(list(shown)))
    states = session.execute(
        select(CodeIndexState, Repository)
        .join(Repository, Repository.id == CodeIndexState.repository_id)
        .where(CodeIndexState.repository_id.in_(scope))
    ).all()
    indexed = set()
    for state, repo in states:
        indexed.add(repo.id)
        if state.skipped_large:
            results.notes.append(
                f"{repo.full_name}: {state.skipped_large} file(s) over "
                f"{limits.max_file_bytes // 1024} KB are not searched"
            )
        if state.skipped_binary:
            results.notes.append(
                f"{repo.full_name}: {state.skipped_binary} binary file(s) are not searched"
            )
        if state.skipped_over_cap:
            results.incomplete = True
            results.notes.append(
                f"{repo.full_name}: only the first {state.files} files are "
                f"indexed; {state.skipped_over_cap} more are not searched"
            )
    if results.query.values("repo"):
        for repo in session.scalars(select(Repository).where(Repository.id.in_(scope))):
            if repo.id not in indexed:
                results.incomplete = True
                results.notes.append(f"{repo.full_name}: its code is not indexed yet")


def search_users(session, text, page=1, per_page=30):
    """Accounts whose name or full name holds each word (GitHub's /search/users)."""
    page, per_page = _bounded_page(page, per_page)
    parsed = parse(text, frozenset({"type", "in"}))
    query = select(User).where(User.is_suspended.is_(False), User.is_pending.is_(False))
    for word in parsed.words():
        pattern = "%" + word.replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(
            or_(
                User.lower_name.like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
            )
        )
    total, rows = _page(session, query, None, [User.lower_name], page, per_page)
    hits = [
        Hit(
            kind="user",
            repository=None,
            user=row[0],
            title=highlight.marked(row[0].name, parsed.words()),
        )
        for row in rows
    ]
    return Results("user", parsed, total, hits, page, per_page)


__all__ = [
    "LANGUAGES",
    "Results",
    "search_changes",
    "search_code",
    "search_repositories",
    "search_users",
]
