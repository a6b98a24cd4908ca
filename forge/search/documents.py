"""The repository, change and issue documents, kept in step with their rows in the same
transaction.

A session listener (installed once per process by `forge.subscribers.register`) writes a
repository's document when it is created, renamed, moved or described anew, and a change's or
an issue's when it is opened or its title or text edited, whichever code path did it (the web,
the API, a push to refs/for, the Gerrit REST layer). Deleting a repository takes its
documents with it (a foreign key that cascades).

A repository whose default branch changes (its settings, the API) gets its code indexed again
from the new branch: the same outbox job a push leaves, recorded in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, event, insert, inspect, select
from sqlalchemy.orm import Session

from forge import outbox
from forge.models import Change, Issue, Repository, User
from forge.models.search import CHANGE, ISSUE, REPOSITORY, SearchDocument

_REPOSITORY_FIELDS = ("name", "description", "owner_id")
_CHANGE_FIELDS = ("title", "description")
_ISSUE_FIELDS = ("title", "body")
_installed = False


def install() -> None:
    """Keep documents in step in every session of this process (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _follow_default_branch)
        event.listen(Session, "after_flush", _follow_flush)
        _installed = True


def _changed(obj, fields: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _follow_default_branch(session: Session, _context, _instances) -> None:
    for obj in list(session.dirty):
        if isinstance(obj, Repository) and _changed(obj, ("default_branch",)):
            # The job finds the repository's folder itself (no path: settings' repos_dir).
            outbox.put(session, "default", "forge.jobs.index_code", obj.id, None)


def _follow_flush(session: Session, _context) -> None:
    connection = session.connection()
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Repository) and (
            obj in session.new or _changed(obj, _REPOSITORY_FIELDS)
        ):
            owner = connection.scalar(select(User.name).where(User.id == obj.owner_id))
            _write(connection, REPOSITORY, obj.id, "", obj.id, f"{owner}/{obj.name}",
                   obj.description or "")  # fmt: skip
        elif isinstance(obj, Change) and (obj in session.new or _changed(obj, _CHANGE_FIELDS)):
            _write(connection, CHANGE, obj.repository_id, str(obj.id), obj.id, obj.title,
                   obj.description or "")  # fmt: skip
        elif isinstance(obj, Issue) and (obj in session.new or _changed(obj, _ISSUE_FIELDS)):
            _write(connection, ISSUE, obj.repository_id, str(obj.id), obj.id, obj.title,
                   obj.body or "")  # fmt: skip
    for obj in session.deleted:
        kind = CHANGE if isinstance(obj, Change) else ISSUE if isinstance(obj, Issue) else None
        if kind is not None:
            connection.execute(
                delete(SearchDocument).where(
                    SearchDocument.kind == kind, SearchDocument.target_id == obj.id
                )
            )


def _write(connection, kind, repository_id, key, target_id, title, body) -> None:
    """Replace the document (a delete and an insert: the FTS5 triggers follow both)."""
    connection.execute(
        delete(SearchDocument).where(
            SearchDocument.kind == kind,
            SearchDocument.repository_id == repository_id,
            SearchDocument.key == key,
        )
    )
    connection.execute(
        insert(SearchDocument).values(
            kind=kind,
            repository_id=repository_id,
            key=key,
            target_id=target_id,
            title=title,
            body=body,
            language="",
            blob_sha="",
            size=0,
        )  # fmt: skip
    )


def rebuild(session: Session) -> int:
    """Write every repository's, change's and issue's document again (`forge search
    reindex`)."""
    connection = session.connection()
    count = 0
    for repo in session.scalars(select(Repository)):
        _write(connection, REPOSITORY, repo.id, "", repo.id, repo.full_name, repo.description or "")
        count += 1
    for change in session.scalars(select(Change)):
        _write(connection, CHANGE, change.repository_id, str(change.id), change.id, change.title,
               change.description or "")  # fmt: skip
        count += 1
    for issue in session.scalars(select(Issue)):
        _write(connection, ISSUE, issue.repository_id, str(issue.id), issue.id, issue.title,
               issue.body or "")  # fmt: skip
        count += 1
    return count
