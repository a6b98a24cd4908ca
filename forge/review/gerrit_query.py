"""The part of Gerrit's change search (`/changes/?q=...`) that git-review asks: a change by
number (`git review -d N`) and a project's open changes (`git review -l`).

forge numbers changes per repository, Gerrit across the site. A bare number `N` (or
`change:N`) finds change #N of the one repository, among those the caller may read, that has
such a change; when several have one the query is refused with the `OWNER/REPO~N` forms that
name each (Gerrit's own "project~number" change id), which `git review -d` accepts too. So on
a forge with one repository its numbers work as they are.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can
from forge.errors import Invalid
from forge.models import Change, ChangeReviewer, Repository, User
from forge.repos.repositories import find_repository

STATUS = {"open": ("open",), "new": ("open",), "merged": ("merged",), "closed": ("closed",)}
STATUS["abandoned"] = ("closed",)
OPERATORS = ("change", "project", "status", "branch", "topic", "owner", "hashtag", "is")
NUMBER = re.compile(r"^\d{1,9}$")
PROJECT_NUMBER = re.compile(r"^(?P<project>[^~\s]+/[^~\s]+?)(?:\.git)?~(?P<number>\d{1,9})$")
MAX_RESULTS = 500


def search(session: Session, viewer: User | None, query: str) -> list[Change]:
    """The changes the query names that the viewer may see, newest first; Invalid when the
    query cannot be read or a bare number is ambiguous."""
    terms = query.split()
    if not terms:
        raise Invalid("the query is empty; try q=status:open or q=NUMBER")
    number, repo, conditions = None, None, []
    for term in terms:
        key, colon, value = term.partition(":")
        if not colon:
            key, value = "change", term
        if key not in OPERATORS or not value:
            raise Invalid(f"unsupported search term {term!r}; forge knows {', '.join(OPERATORS)}")
        if key == "change":
            found = PROJECT_NUMBER.fullmatch(value)
            if found:
                repo = _project(session, viewer, found["project"])
                number = int(found["number"])
            elif NUMBER.fullmatch(value):
                number = int(value)
            else:
                raise Invalid(f"{value!r} is not a change number (N or OWNER/REPO~N)")
        elif key == "project":
            repo = _project(session, viewer, value)
        elif key == "status":
            if value not in STATUS:
                raise Invalid(f"status:{value}: use one of {', '.join(STATUS)}")
            conditions.append(Change.state.in_(STATUS[value]))
        elif key == "branch":
            conditions.append(Change.base_branch == value)
        elif key == "topic":
            conditions.append(Change.topic == value)
        elif key == "hashtag":
            conditions.append((Change.hashtags == value) | Change.hashtags.like(f"%{value}%"))
        elif key == "owner":
            conditions.append(Change.author.has(User.lower_name == value.lower()))
        elif key == "is":
            if value not in ("wip", "private", "open", "merged", "closed"):
                raise Invalid(f"is:{value}: use wip, private, open, merged or closed")
            conditions.append(_is(value))
    statement = select(Change).where(*conditions)
    if repo is not None:
        statement = statement.where(Change.repository_id == repo.id)
    if number is not None:
        statement = statement.where(Change.number == number)
    statement = statement.order_by(Change.updated_at.desc(), Change.id.desc())
    found = [
        c for c in session.scalars(statement.limit(MAX_RESULTS)) if may_see(session, viewer, c)
    ]
    if number is not None and repo is None and len(found) > 1:
        names = ", ".join(f"{c.repository.full_name}~{c.number}" for c in found)
        raise Invalid(
            f"change number {number} is ambiguous: forge numbers changes per repository and "
            f"several have a #{number}; name one: {names}"
        )
    if "hashtag:" in query:  # LIKE found candidates; keep whole tags only
        wanted = {t.partition(":")[2] for t in terms if t.startswith("hashtag:")}
        found = [c for c in found if wanted <= set(c.hashtag_list)]
    return found


def _is(value: str):
    if value == "wip":
        return Change.work_in_progress.is_(True)
    if value == "private":
        return Change.private.is_(True)
    return Change.state == value


def _project(session: Session, viewer: User | None, name: str) -> Repository:
    owner, _, repo_name = name.strip("/").removesuffix(".git").partition("/")
    repo = find_repository(session, owner, repo_name)
    if repo is None or not can(session, viewer, "read", repo):
        raise Invalid(f"project {name!r} not found")
    return repo


def may_see(session: Session, viewer: User | None, change: Change) -> bool:
    """Readers of the repository see its changes; a private change only its owner, its
    reviewers and the repository's writers (Gerrit's private changes)."""
    if not can(session, viewer, "read", change.repository):
        return False
    if not change.private:
        return True
    if viewer is None:
        return False
    if viewer.id == change.author_id or can(session, viewer, "write", change.repository):
        return True
    return (
        session.scalar(
            select(ChangeReviewer.id).where(
                ChangeReviewer.change_id == change.id, ChangeReviewer.user_id == viewer.id
            )
        )
        is not None
    )


def hidden_change_refs(session: Session, viewer: User | None, repo: Repository) -> list[str]:
    """The ref prefixes git must not show `viewer` of `repo`: those of the private changes
    they may not see (`refs/pull/N/` and `refs/changes/NN/N/`), as Gerrit hides them."""
    hidden = []
    for change in session.scalars(
        select(Change).where(Change.repository_id == repo.id, Change.private.is_(True))
    ):
        if not may_see(session, viewer, change):
            number = change.number
            hidden += [f"refs/pull/{number}/", f"refs/changes/{number % 100:02d}/{number}/"]
    return hidden
