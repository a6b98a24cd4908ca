"""Change requests (pull requests) and what gathers around them: patch sets, reviews,
comments on lines and on the change, and notifications.

Gerrit's words: a *change* proposes commits for a target branch; every update of it is a
numbered *patch set*; reviewers leave *reviews* with inline comments.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User
from forge.models.repos import Repository

STATES = ("open", "closed", "merged")


class Change(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)  # per repository, shown as #N
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    base_branch: Mapped[str] = mapped_column(String(255))
    # Where the commits come from: a branch of this repository or of a fork; None for a
    # change uploaded with `git push HEAD:refs/for/BRANCH`.
    head_repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL"), nullable=True
    )
    head_branch: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A topic groups changes (as Gerrit's); the Change-Id trailer alone says which change a
    # pushed commit updates, within the repository and target branch.
    topic: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gerrit_change_id: Mapped[str | None] = mapped_column(String(41), nullable=True)
    # Gerrit's work-in-progress: kept out of review queues and never submitted while set.
    work_in_progress: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    hashtags: Mapped[str] = mapped_column(Text, default="", server_default="")  # "a,b"
    # A chain: the change whose commit this change's commit sits on (pushed together, or
    # onto an open change's head); it merges first.
    depends_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="SET NULL"), nullable=True
    )
    head_sha: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    merge_commit_sha: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Auto-merge (GitHub's enablePullRequestAutoMerge): who asked for it, and how to merge,
    # once the change is submittable; None when off.
    auto_merge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    auto_merge_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    repository: Mapped[Repository] = relationship(foreign_keys=[repository_id])
    head_repository: Mapped[Repository | None] = relationship(foreign_keys=[head_repository_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    merged_by: Mapped[User | None] = relationship(foreign_keys=[merged_by_id])
    auto_merge_by: Mapped[User | None] = relationship(foreign_keys=[auto_merge_by_id])
    depends_on: Mapped[Change | None] = relationship(remote_side="Change.id")
    patch_sets: Mapped[list[PatchSet]] = relationship(
        back_populates="change", order_by="PatchSet.number", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("repository_id", "number"),
        Index("ix_changes_repository_id_state", "repository_id", "state"),
        Index("ix_changes_author_id_state", "author_id", "state"),
        Index("ix_changes_change_id_lookup", "repository_id", "base_branch", "gerrit_change_id"),
        Index("ix_changes_topic", "repository_id", "topic"),
    )

    @property
    def head_ref(self) -> str:
        """Where the change's commits are kept in the target repository."""
        return f"refs/pull/{self.number}/head"

    @property
    def current_patch_set(self) -> PatchSet:
        return self.patch_sets[-1]

    @property
    def hashtag_list(self) -> list[str]:
        return [tag for tag in self.hashtags.split(",") if tag]

    def patch_set_ref(self, number: int) -> str:
        """Gerrit's ref of a patch set, refs/changes/NN/N/P (NN: N's last two digits)."""
        return f"refs/changes/{self.number % 100:02d}/{self.number}/{number}"


class PatchSet(Base):
    """One version of a change: its head commit and the base it was made against."""

    __tablename__ = "patch_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(40))
    base_sha: Mapped[str] = mapped_column(String(40))  # merge base with the target branch
    uploader_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    message: Mapped[str] = mapped_column(Text, default="", server_default="")  # push's m=
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    change: Mapped[Change] = relationship(back_populates="patch_sets")
    uploader: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("change_id", "number"),)


class ChangeReviewer(Base):
    """Someone asked to review a change (kind "reviewer") or kept informed of it ("cc")."""

    __tablename__ = "change_reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="reviewer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("change_id", "user_id"),)


class Review(Base):
    """A reviewer's verdict on a patch set, with the inline comments submitted with it."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # GitHub's states: PENDING (a draft), COMMENTED, APPROVED, CHANGES_REQUESTED, DISMISSED.
    state: Mapped[str] = mapped_column(String(20), default="PENDING")
    body: Mapped[str] = mapped_column(Text, default="")
    commit_sha: Mapped[str] = mapped_column(String(40))
    patch_set_number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    author: Mapped[User] = relationship(lazy="joined")


class ReviewComment(Base):
    """A comment on one line of a change's diff (either side), possibly a reply in a thread."""

    __tablename__ = "review_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), nullable=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_comments.id", ondelete="CASCADE"), nullable=True
    )
    path: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(5), default="RIGHT")  # LEFT: base, RIGHT: head
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None once outdated
    original_line: Mapped[int] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(40))  # where `line` is now
    original_commit_sha: Mapped[str] = mapped_column(String(40))
    patch_set_number: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class ChangeComment(Base):
    """A comment in a change's conversation (GitHub's issue comment on a pull request)."""

    __tablename__ = "change_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class ChangeEvent(Base):
    """Something that happened to a change, for its timeline: pushed, closed, merged, ..."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # opened, patch_set, closed, reopened, merged
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class Notification(Base):
    """An inbox entry: a change awaits your review, has news for its author, or mentions you;
    or an issue has news (then `issue_id` is set and `change_id` is None)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), nullable=True
    )
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), nullable=True, index=True
    )
    reason: Mapped[str] = mapped_column(String(32))  # review_requested, author, mention
    detail: Mapped[str] = mapped_column(Text, default="")
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    change: Mapped[Change | None] = relationship()
    issue = relationship("Issue")

    __table_args__ = (Index("ix_notifications_user_id_read", "user_id", "read"),)
