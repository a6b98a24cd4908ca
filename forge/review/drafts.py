"""Draft pull requests: a change opened as a draft (Gerrit's work in progress) is shown to
all but stays out of merging until its author marks it ready for review."""

from __future__ import annotations

from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can
from forge.db import utcnow
from forge.errors import Forbidden, Invalid
from forge.models import Change, ChangeEvent, User


def set_draft(session: Session, actor: User, change: Change, draft: bool) -> None:
    """Mark the change a draft, or ready for review (the author, or a maintainer)."""
    if actor.id != change.author_id and not can(session, actor, "maintain", change.repository):
        raise Forbidden("only the author or a maintainer may change whether it is a draft")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}", field="draft")
    if change.work_in_progress == draft:
        return
    change.work_in_progress = draft
    change.updated_at = utcnow()
    kind = "converted_to_draft" if draft else "ready_for_review"
    session.add(ChangeEvent(change_id=change.id, actor_id=actor.id, kind=kind, detail=""))
    session.flush()
    events.publish(session, events.DraftChanged(change=change, sender=actor, draft=draft))
