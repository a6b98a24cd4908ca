"""Issues: the tracker, modelled on GitHub's so its REST API and webhooks map one to one.

- `Issue`: a report in a repository. Its `number` comes from the same sequence as changes
  (`Repository.last_change_number`), as GitHub's issues and pull requests share theirs, so
  `#N` names exactly one of the two. Open or closed; a closed issue says why
  (`state_reason`: completed, not_planned, duplicate; an issue opened again says reopened).
  A locked issue (`locked`, GitHub's `active_lock_reason`) takes comments from writers only.
  `triage_state` belongs to crowdsourced triage (unconfirmed, confirmed, or None for a report
  that needs none): the tracker never sets it.
- `IssueComment`: a comment in an issue's conversation.
- `IssueLabel`: a repository's label for issues (name, colour as six hex digits, description),
  applied through `issue_label_links`. Named apart from `forge.models.quality.Label`, which is
  a label changes are voted with (Gerrit's), a different thing.
- `Milestone`: a repository's milestone (its own number sequence, as GitHub's), open or closed,
  with an optional due date; an issue is in at most one.
- Assignees: people who may write to the repository, through `issue_assignees`.
- `IssueEvent`: the timeline's events in GitHub's vocabulary (closed, reopened, labeled,
  unlabeled, assigned, unassigned, milestoned, demilestoned, renamed, locked, unlocked,
  marked_as_duplicate, cross-referenced, referenced, mentioned, ...), with the columns each
  event's GitHub shape needs.
- `IssueReference`: "#N" / "OWNER/REPO#N" written in an issue, a comment or a change's
  description or commits, pointing at an issue or a change; recorded once per source and
  target so both pages show it. `closes` marks a closing keyword (Fixes #N) from a change.
- `Reaction`: a user's emoji reaction (GitHub's eight contents) on an issue or a comment.
- `IssueEdit`: edit history of an issue's title/body or a comment's body: who, when, and the
  text before the edit.
- `IssueSubscription`: who hears of an issue (participants, and those who subscribed), or
  asked not to (`subscribed` false); triage moves these when it marks duplicates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User
from forge.models.repos import Repository

ISSUE_STATES = ("open", "closed")
CLOSE_REASONS = ("completed", "not_planned", "duplicate")
LOCK_REASONS = ("off-topic", "too heated", "resolved", "spam")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

issue_label_links = Table(
    "issue_label_links",
    Base.metadata,
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("issue_labels.id", ondelete="CASCADE"), primary_key=True),
)

issue_assignees = Table(
    "issue_assignees",
    Base.metadata,
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class IssueLabel(Base):
    __tablename__ = "issue_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Compared case-insensitively, as GitHub's label names are.
    lower_name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(6), default="ededed")  # hex, no '#'
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("repository_id", "lower_name"),)


class Milestone(Base):
    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)  # per repository, apart from issues'
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(8), default="open")  # open, closed
    due_on: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    creator: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("repository_id", "number"),
        UniqueConstraint("repository_id", "title"),
    )


class Issue(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)  # shared with changes: #N is one or the other
    title: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(8), default="open")
    # completed, not_planned, duplicate when closed; reopened once opened again; else None.
    state_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="SET NULL"), nullable=True
    )
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    lock_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("milestones.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # Crowdsourced triage's (unconfirmed, confirmed, None: needs none); the tracker leaves it.
    triage_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    repository: Mapped[Repository] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    milestone: Mapped[Milestone | None] = relationship()
    duplicate_of: Mapped[Issue | None] = relationship(remote_side="Issue.id")
    labels: Mapped[list[IssueLabel]] = relationship(
        secondary=issue_label_links, order_by="IssueLabel.lower_name"
    )
    assignees: Mapped[list[User]] = relationship(secondary=issue_assignees, order_by="User.name")

    __table_args__ = (
        UniqueConstraint("repository_id", "number"),
        Index("ix_issues_repository_id_state", "repository_id", "state"),
        Index("ix_issues_author_id", "author_id"),
    )


class IssueComment(Base):
    __tablename__ = "issue_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    issue: Mapped[Issue] = relationship()
    author: Mapped[User] = relationship(lazy="joined")


class IssueEvent(Base):
    """One entry of an issue's timeline besides comments, in GitHub's event names."""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    event: Mapped[str] = mapped_column(String(32))
    # What the event is about, by kind: labeled/unlabeled (label_name, label_color),
    # assigned/unassigned (assignee_id), milestoned/demilestoned (milestone_title),
    # renamed (rename_from, rename_to), locked (lock_reason), closed/reopened (state_reason),
    # closed by a change or referenced from a commit (commit_id, source_change_id),
    # cross-referenced (source_issue_id or source_change_id), marked_as_duplicate
    # (source_issue_id: the original).
    label_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    label_color: Mapped[str | None] = mapped_column(String(6), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    milestone_title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    rename_from: Mapped[str | None] = mapped_column(String(256), nullable=True)
    rename_to: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lock_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    commit_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source_issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), nullable=True
    )
    source_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issue: Mapped[Issue] = relationship(foreign_keys=[issue_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    source_issue: Mapped[Issue | None] = relationship(foreign_keys=[source_issue_id])
    source_change = relationship("Change", foreign_keys=[source_change_id])


class IssueReference(Base):
    """`#N` written somewhere (an issue's body or comment, a change's description or commit)
    naming an issue or a change; exactly one source and one target column is set."""

    __tablename__ = "issue_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), nullable=True, index=True
    )
    source_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), nullable=True, index=True
    )
    target_issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), nullable=True, index=True
    )
    target_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), nullable=True, index=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # A change saying "Fixes #N": merging it closes the target issue.
    closes: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source_issue: Mapped[Issue | None] = relationship(foreign_keys=[source_issue_id])
    source_change = relationship("Change", foreign_keys=[source_change_id])
    target_issue: Mapped[Issue | None] = relationship(foreign_keys=[target_issue_id])
    target_change = relationship("Change", foreign_keys=[target_change_id])
    actor: Mapped[User | None] = relationship()


class Reaction(Base):
    """A user's reaction on an issue (comment_id None) or on one of its comments."""

    __tablename__ = "reactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("issue_comments.id", ondelete="CASCADE"), nullable=True, index=True
    )
    content: Mapped[str] = mapped_column(String(16))  # one of REACTIONS
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("user_id", "issue_id", "comment_id", "content"),)


class IssueEdit(Base):
    """An edit of an issue (title and body) or of a comment (body): the text before it."""

    __tablename__ = "issue_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("issue_comments.id", ondelete="CASCADE"), nullable=True
    )
    editor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    previous_title: Mapped[str | None] = mapped_column(String(256), nullable=True)
    previous_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    editor: Mapped[User | None] = relationship(lazy="joined")


class IssueSubscription(Base):
    """Who hears of an issue's news: its participants and those who subscribed (`subscribed`
    true), or who asked not to (false)."""

    __tablename__ = "issue_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issue_id", "user_id"),)
