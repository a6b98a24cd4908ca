"""Emoji reactions on issues and their comments (GitHub's eight contents): anyone who may read
the repository reacts, once per content; a locked issue takes reactions from writers only, as
its comments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can, require
from forge.errors import Forbidden, Invalid, NotFound
from forge.models import Issue, IssueComment, Reaction, User
from forge.models.issues import REACTIONS


def reactions_of(session: Session, issue: Issue, comment: IssueComment | None = None):
    query = select(Reaction).where(Reaction.issue_id == issue.id)
    query = query.where(
        Reaction.comment_id == comment.id if comment else Reaction.comment_id.is_(None)
    )
    return list(session.scalars(query.order_by(Reaction.id)))


def counts(rows: list[Reaction]) -> dict[str, int]:
    found = dict.fromkeys(REACTIONS, 0)
    for row in rows:
        found[row.content] += 1
    return found


def react(
    session: Session, issue: Issue, actor: User, content, comment: IssueComment | None = None
) -> tuple[Reaction, bool]:
    """The actor's reaction (made now: True; there already: False)."""
    require(session, actor, "read", issue.repository)
    if content not in REACTIONS:
        raise Invalid("content must be one of: " + ", ".join(REACTIONS), field="content")
    if issue.locked and not can(session, actor, "write", issue.repository):
        raise Forbidden("this conversation is locked: only writers of the repository react")
    for row in reactions_of(session, issue, comment):
        if row.user_id == actor.id and row.content == content:
            return row, False
    row = Reaction(
        user_id=actor.id,
        user=actor,
        issue_id=issue.id,
        comment_id=comment.id if comment else None,
        content=content,
    )
    session.add(row)
    session.flush()
    return row, True


def remove_reaction(session: Session, issue: Issue, actor: User, reaction_id: int) -> None:
    row = session.get(Reaction, reaction_id)
    if row is None or row.issue_id != issue.id:
        raise NotFound(f"no reaction {reaction_id}")
    if row.user_id != actor.id and not can(session, actor, "write", issue.repository):
        raise Forbidden("only whoever reacted may take the reaction back")
    session.delete(row)
    session.flush()
