"""Reviewers and CCs of a change, as a push's `r=`/`cc=` (or Gerrit's "Add reviewer") names
them: a reviewer finds the change in the review queue of their inbox, both get a notification.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can
from forge.accounts.users import find_user
from forge.errors import Invalid
from forge.models import Change, ChangeReviewer, User
from forge.review import inbox

KINDS = ("reviewer", "cc")


def add(session: Session, actor: User, change: Change, names: list[str], kind: str) -> None:
    """Ask `names` to review the change (or CC them); an unknown name, or someone who may not
    read the repository, is refused by name (the same words for both: nothing leaks)."""
    for name in names:
        user = find_user(session, name.lstrip("@"))
        if user is None or not can(session, user, "read", change.repository):
            raise Invalid(f"{'r' if kind == 'reviewer' else 'cc'}={name}: no such user here")
        if user.id == change.author_id:
            continue  # the owner reviews nothing of their own
        row = session.scalar(
            select(ChangeReviewer).where(
                ChangeReviewer.change_id == change.id, ChangeReviewer.user_id == user.id
            )
        )
        if row is None:
            session.add(ChangeReviewer(change_id=change.id, user=user, kind=kind))
        elif row.kind == kind or row.kind == "reviewer":
            continue  # a reviewer stays one when CC'd again
        else:
            row.kind = kind
        reason = "review_requested" if kind == "reviewer" else "cc"
        detail = (
            f"{actor.name} asked you to review" if kind == "reviewer" else f"{actor.name} CC'd you"
        )
        inbox.notify(session, user.id, change, reason, detail)
    session.flush()


def of(session: Session, change: Change) -> list[ChangeReviewer]:
    query = select(ChangeReviewer).where(ChangeReviewer.change_id == change.id)
    return list(session.scalars(query.order_by(ChangeReviewer.id)))


def requested_of(user: User):
    """The changes `user` was asked to review, as a subquery of change ids."""
    return select(ChangeReviewer.change_id).where(
        ChangeReviewer.user_id == user.id, ChangeReviewer.kind == "reviewer"
    )
