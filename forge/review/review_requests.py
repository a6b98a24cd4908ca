"""GitHub's review requests, kept as forge's reviewers of a change (Gerrit's "Add reviewer",
a push's `r=`): asking someone to review, taking the request back, and who is still asked.
A request is answered by the reviewer's review: from then on it is no longer pending, as on
GitHub."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can
from forge.accounts.users import find_user
from forge.errors import Forbidden, Invalid
from forge.models import Change, ChangeReviewer, Review, User
from forge.review import reviewers


def _may_request(session: Session, actor: User, change: Change) -> None:
    if actor.id != change.author_id and not can(session, actor, "write", change.repository):
        raise Forbidden("only the author or a writer may ask for reviews")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}", field="reviewers")


def _names(names) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise Invalid("reviewers must be a list of logins", field="reviewers")
    return names


def request_reviews(session: Session, actor: User, change: Change, names) -> None:
    _may_request(session, actor, change)
    for name in _names(names):
        if name.lstrip("@").lower() == change.author.name.lower():
            raise Invalid("Review cannot be requested from pull request author.", "reviewers")
    before = {user.id for user in requested(session, change)}
    try:
        reviewers.add(session, actor, change, names, "reviewer")
    except Invalid as exc:  # says r=NAME, a push option's words; the API names the field
        raise Invalid(exc.message.replace("r=", "reviewer "), field="reviewers") from None
    for user in requested(session, change):
        if user.id not in before:
            events.publish(
                session,
                events.ReviewRequested(change=change, sender=actor, requested_reviewer=user),
            )


def withdraw_requests(session: Session, actor: User, change: Change, names) -> None:
    _may_request(session, actor, change)
    ids = [user.id for name in _names(names) if (user := find_user(session, name)) is not None]
    withdrawn = [user for user in requested(session, change) if user.id in ids]
    if ids:
        session.execute(
            delete(ChangeReviewer).where(
                ChangeReviewer.change_id == change.id,
                ChangeReviewer.user_id.in_(ids),
                ChangeReviewer.kind == "reviewer",
            )
        )
        session.flush()
    for user in withdrawn:
        events.publish(
            session,
            events.ReviewRequestRemoved(change=change, sender=actor, requested_reviewer=user),
        )


def requested(session: Session, change: Change) -> list[User]:
    """Who is asked to review and has not reviewed since being asked, in the order asked."""
    asked = [row for row in reviewers.of(session, change) if row.kind == "reviewer"]
    if not asked:
        return []
    reviewed = {
        (author_id, submitted)
        for author_id, submitted in session.execute(
            select(Review.author_id, Review.submitted_at).where(
                Review.change_id == change.id, Review.state != "PENDING"
            )
        )
    }
    return [
        row.user
        for row in asked
        if not any(a == row.user_id and s and s >= row.created_at for a, s in reviewed)
    ]
