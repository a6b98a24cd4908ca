"""Dismissing a review, as GitHub's maintainers do: an approval or a request for changes that
no longer applies is set aside with a reason, and its verdict stops counting (the gate takes
back the Code-Review vote it gave)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import require
from forge.errors import Invalid, NotFound
from forge.models import Change, ChangeEvent, Review, User
from forge.review import inbox

DISMISSABLE = ("APPROVED", "CHANGES_REQUESTED")


def dismiss_review(
    session: Session, change: Change, actor: User, review_id: int, message: str
) -> Review:
    """Set the review aside with `message`; refused for a comment-only or pending review."""
    require(session, actor, "maintain", change.repository)
    message = (message or "").strip()
    if not message:
        raise Invalid("message is required: say why the review is dismissed", field="message")
    review = session.get(Review, review_id)
    if review is None or review.change_id != change.id or review.state == "PENDING":
        raise NotFound(f"review {review_id} not found on change #{change.number}")
    if review.state not in DISMISSABLE:
        state = review.state.lower().replace("_", " ")
        raise Invalid(f"Can not dismiss a {state} pull request review", field="event")
    review.state = "DISMISSED"
    session.add(
        ChangeEvent(
            change_id=change.id,
            actor_id=actor.id,
            kind="review_dismissed",
            detail=f"{review.author.name}: {message}",
        )
    )
    if review.author_id != actor.id:
        inbox.notify(
            session, review.author_id, change, "state_change",
            f"{actor.name} dismissed your review: {message}",
        )  # fmt: skip
    session.flush()
    events.publish(
        session, events.ReviewDismissed(change=change, review=review, sender=actor, message=message)
    )
    return review
