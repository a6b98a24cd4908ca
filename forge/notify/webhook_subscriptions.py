"""Which domain events a webhook tells of, as GitHub names them: `SUBSCRIPTIONS` maps each
event of `forge.events` to the subscriber that records it (`forge.subscribers` wires them).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from forge import events
from forge.models import ReviewComment
from forge.notify.webhook_recording import emit


def send(github_event: str, **fixed) -> Callable[[Session, events.Event], None]:
    """A subscriber that records `github_event` from a domain event: its payload is built
    from the event's fields (`Event.subject`) plus `fixed` (an action, say)."""

    def handler(session: Session, event: events.Event) -> None:
        emit(session, event.repository, github_event, event.base_url, **fixed, **event.subject())

    handler.__name__ = f"send_{github_event}"
    return handler


def _send_review(session: Session, event: events.ReviewSubmitted) -> None:
    send("pull_request_review")(session, event)
    for comment in event.comments:
        emit(session, event.repository, "pull_request_review_comment", event.base_url,
             change=event.change, comment=comment, sender=event.sender)  # fmt: skip


def _send_draft_changed(session: Session, event: events.DraftChanged) -> None:
    action = "converted_to_draft" if event.draft else "ready_for_review"
    send("pull_request", action=action)(session, event)


def _comment_event(comment) -> str:
    """GitHub's event for a comment: on a line, or in the conversation (GitHub's issue)."""
    return "pull_request_review_comment" if isinstance(comment, ReviewComment) else "issue_comment"


def _send_comment_edited(session: Session, event: events.CommentEdited) -> None:
    emit(session, event.repository, _comment_event(event.comment), event.base_url,
         change=event.change, comment=event.comment, sender=event.sender, action="edited",
         changes={"body": {"from": event.previous_body}})  # fmt: skip


def _send_comment_deleted(session: Session, event: events.CommentDeleted) -> None:
    emit(session, event.repository, _comment_event(event.comment), event.base_url,
         change=event.change, comment=event.comment, sender=event.sender,
         action="deleted")  # fmt: skip


# Which domain events a webhook tells of, as GitHub names it (forge.subscribers wires these).
SUBSCRIPTIONS: dict[type[events.Event], Callable[[Session, events.Event], None]] = {
    events.ChangeOpened: send("pull_request", action="opened"),
    # Every new patch set, from a branch push or a refs/for upload, is GitHub's synchronize.
    events.PatchSetUploaded: send("pull_request", action="synchronize"),
    events.ChangeEdited: send("pull_request", action="edited"),
    events.ChangeClosed: send("pull_request", action="closed"),
    events.ChangeMerged: send("pull_request", action="closed"),
    events.ChangeReopened: send("pull_request", action="reopened"),
    events.ChangeCommented: send("issue_comment"),
    events.DraftChanged: _send_draft_changed,
    events.ReviewRequested: send("pull_request", action="review_requested"),
    events.ReviewRequestRemoved: send("pull_request", action="review_request_removed"),
    events.ReviewCommentAdded: send("pull_request_review_comment"),
    events.CommentEdited: _send_comment_edited,
    events.CommentDeleted: _send_comment_deleted,
    events.ReviewSubmitted: _send_review,
    events.ReviewDismissed: send("pull_request_review", action="dismissed"),
    events.StatusChanged: send("status"),
    events.VoteCast: send("vote"),
    events.MergeQueueChanged: send("merge_queue"),
    events.ReleaseChanged: send("release"),
    events.IssueChanged: send("issues"),
    events.IssueCommented: send("issue_comment"),
    events.IssueLabelChanged: send("label"),
    events.MilestoneChanged: send("milestone"),
}


def queue_position(entry) -> int | None:
    """Where a waiting merge queue entry stands in its branch's queue (1 = next), for the
    merge_queue event; None once it left the queue."""
    from sqlalchemy.orm import object_session

    from forge.gate.merge_queue import position_of

    session = object_session(entry)
    return position_of(session, entry) if session is not None else None
