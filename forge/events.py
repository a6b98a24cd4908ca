"""Domain events: what happened, said once by the service that made it happen.

A service publishes an event (`publish(session, ChangeClosed(change=..., sender=...))`) and
does not know who listens. The listeners (webhooks, CI, the merge queue, the gate's votes) are
wired by each process's factory through `forge.subscribers.register`, called by `create_app`
and the CLI (`forge worker`, `forge ci reconcile`, ...), never by the accident of an import;
`forge.subscribers` is the one place that says who listens to what.

Subscribers run at once, in the publisher's transaction and in the order they were wired: what
they write (a webhook delivery, an outbox message for a job, a vote carried to a new patch set)
commits or rolls back with the change that caused it, and a subscriber that refuses (raises)
refuses the whole action. Work that must happen outside the transaction is written to the
outbox (`forge.outbox`) by the subscriber, never sent from here.

This is also how a lower domain causes something in a higher one without importing it (the
layers are held by import-linter, see pyproject.toml): the review domain says a change was
closed; the gate, above it, takes the change out of the merge queue.

Events carry the database objects they are about (typed fields), and `base_url` (the forge's
external URL for links in payloads, None for "the configured one or the request's").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from forge.models import (
        Change,
        ChangeComment,
        CiRun,
        CommitStatus,
        Issue,
        IssueComment,
        IssueLabel,
        Milestone,
        PatchSet,
        Release,
        Repository,
        Review,
        ReviewComment,
        User,
    )
    from forge.models.quality import MergeQueueEntry, Vote


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened in one repository."""

    base_url: str | None = None

    @property
    def repository(self) -> Repository:
        return self.change.repository  # every change event; the others override it

    def subject(self) -> dict[str, Any]:
        """The event's fields a webhook payload is built from (all but `base_url` and those
        marked `payload=False`)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "base_url" and f.metadata.get("payload", True)
        }


def _internal(**kwargs):
    """A field subscribers use that is not part of the event's webhook payload."""
    return field(metadata={"payload": False}, **kwargs)


@dataclass(frozen=True, kw_only=True)
class ChangeOpened(Event):
    change: Change
    sender: User
    repo_path: Path = _internal()


@dataclass(frozen=True, kw_only=True)
class PatchSetUploaded(Event):
    """A new version of an open change (a push to its branch or to refs/for/*)."""

    change: Change
    sender: User | None
    before: str
    after: str
    previous: PatchSet = _internal()
    patch_set: PatchSet = _internal()
    repo_path: Path = _internal()


@dataclass(frozen=True, kw_only=True)
class ChangeEdited(Event):
    change: Change
    sender: User
    changes: dict  # field -> {"from": old value}, as GitHub's `edited`


@dataclass(frozen=True, kw_only=True)
class ChangeClosed(Event):
    """Closed without merging (abandoned)."""

    change: Change
    sender: User


@dataclass(frozen=True, kw_only=True)
class ChangeReopened(Event):
    change: Change
    sender: User


@dataclass(frozen=True, kw_only=True)
class ChangeMerged(Event):
    change: Change
    sender: User


@dataclass(frozen=True, kw_only=True)
class ChangeCommented(Event):
    """A comment on the change's conversation (GitHub's issue comment)."""

    change: Change
    comment: ChangeComment
    sender: User


@dataclass(frozen=True, kw_only=True)
class ReviewCommentAdded(Event):
    """An inline comment posted on its own (a reply, or a comment not held for a review)."""

    change: Change
    comment: ReviewComment
    sender: User


@dataclass(frozen=True, kw_only=True)
class DraftChanged(Event):
    """The change became a draft (`draft`), or was marked ready for review."""

    change: Change
    sender: User
    draft: bool = _internal()


@dataclass(frozen=True, kw_only=True)
class ReviewRequested(Event):
    """Someone was asked to review the change."""

    change: Change
    sender: User
    requested_reviewer: User


@dataclass(frozen=True, kw_only=True)
class ReviewRequestRemoved(Event):
    """A request to review the change was taken back."""

    change: Change
    sender: User
    requested_reviewer: User


@dataclass(frozen=True, kw_only=True)
class CommentEdited(Event):
    """The text of a comment changed: in the conversation (a ChangeComment) or on a line (a
    ReviewComment)."""

    change: Change
    comment: ChangeComment | ReviewComment
    sender: User
    previous_body: str


@dataclass(frozen=True, kw_only=True)
class CommentDeleted(Event):
    """A comment is being deleted: published just before, so subscribers can still read it."""

    change: Change
    comment: ChangeComment | ReviewComment
    sender: User


@dataclass(frozen=True, kw_only=True)
class ReviewSubmitted(Event):
    change: Change
    review: Review
    sender: User
    verdict: str = _internal()  # APPROVE, REQUEST_CHANGES or COMMENT
    comments: Sequence[ReviewComment] = _internal(default=())


@dataclass(frozen=True, kw_only=True)
class ReviewDismissed(Event):
    """A maintainer set a review aside (GitHub's dismissal): its verdict no longer counts."""

    change: Change
    review: Review
    sender: User
    message: str = _internal()


@dataclass(frozen=True, kw_only=True)
class VoteCast(Event):
    change: Change
    vote: Vote
    sender: User
    action: str  # created, updated or deleted


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    """A commit status set, through the statuses API or by forge's CI (then `status.creator`
    is None and the sender is whoever the run is for, if anyone)."""

    status: CommitStatus
    sender: User | None
    repo: Repository = _internal()

    @property
    def repository(self) -> Repository:
        return self.repo


@dataclass(frozen=True, kw_only=True)
class CiRunFinished(Event):
    run: CiRun = _internal()

    @property
    def repository(self) -> Repository:
        return self.run.repository


@dataclass(frozen=True, kw_only=True)
class MergeQueueChanged(Event):
    """A change entered, moved through or left a merge queue; `action` as GitHub's
    merge_group/merge_queue events name it."""

    change: Change
    entry: MergeQueueEntry
    sender: User | None
    action: str


Handler = Callable[["Session", Any], None]

_subscribers: dict[type[Event], tuple[Handler, ...]] | None = None


def configure(subscriptions: Mapping[type[Event], Sequence[Handler]]) -> None:
    """Wire the process: each event type to its handlers, in order. Replaces what was wired
    before, so a process that configures twice (tests build many apps) does not call a
    handler twice."""
    global _subscribers
    _subscribers = {kind: tuple(handlers) for kind, handlers in subscriptions.items()}


def publish(session: Session, event: Event) -> None:
    """Tell the event's subscribers, now, in this transaction. A process that was never wired
    would drop every event without a word; it fails loudly instead."""
    if _subscribers is None:
        raise RuntimeError(
            f"{type(event).__name__} published before any subscriber was wired: the process "
            "did not call forge.subscribers.register()"
        )
    for handler in _subscribers.get(type(event), ()):
        handler(session, event)


@dataclass(frozen=True, kw_only=True)
class ReleaseChanged(Event):
    """A release was created, published, edited, unpublished or deleted; `action` as GitHub's
    `release` event names it, `changes` the previous name and body of an edit."""

    release: Release
    sender: User
    action: str
    changes: dict = field(default_factory=dict)

    @property
    def repository(self) -> Repository:
        return self.release.repository


@dataclass(frozen=True, kw_only=True)
class IssueChanged(Event):
    """An issue was opened, edited, closed, reopened, labeled, unlabeled, assigned,
    unassigned, milestoned, demilestoned, locked or unlocked (`action` as GitHub's `issues`
    event names it); `extra` holds what the action names (label, assignee, milestone, changes).
    """

    issue: Issue
    sender: User
    action: str
    extra: dict = field(default_factory=dict)

    @property
    def repository(self) -> Repository:
        return self.issue.repository


@dataclass(frozen=True, kw_only=True)
class IssueCommented(Event):
    """A comment on an issue was created, edited (`changes`: its previous body) or deleted."""

    issue: Issue
    comment: IssueComment
    sender: User
    action: str = "created"
    changes: dict = field(default_factory=dict)

    @property
    def repository(self) -> Repository:
        return self.issue.repository


@dataclass(frozen=True, kw_only=True)
class IssueLabelChanged(Event):
    """A repository's issue label was created, edited or deleted."""

    label: IssueLabel
    repo: Repository = _internal()
    sender: User
    action: str
    changes: dict = field(default_factory=dict)

    @property
    def repository(self) -> Repository:
        return self.repo


@dataclass(frozen=True, kw_only=True)
class MilestoneChanged(Event):
    """A milestone was created, edited, opened, closed or deleted."""

    milestone: Milestone
    repo: Repository = _internal()
    sender: User
    action: str
    changes: dict = field(default_factory=dict)

    @property
    def repository(self) -> Repository:
        return self.repo
