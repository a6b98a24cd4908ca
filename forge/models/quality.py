"""Crowdsourced quality assurance: labels and votes on changes, each repository's quality gate,
reputation earned from history, review-queue claims and audits, and the merge queue.

Gerrit's words: a *label* (Code-Review, Verified, ...) has a range of values; a *vote* is one
user's value for one label on one change; *submit requirements* decide when a change may merge.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
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
from forge.models.changes import Change
from forge.models.repos import Repository


class Label(Base):
    """A label a repository votes with. The defaults (Code-Review, Verified) have rows too,
    written when a repository's labels are first read, so owners can edit them like any other.
    """

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    min_value: Mapped[int] = mapped_column(Integer)
    max_value: Mapped[int] = mapped_column(Integer)
    # Gerrit's label functions: MaxWithBlock (needs the maximum, the minimum vetoes),
    # AnyWithBlock (the minimum vetoes), MaxNoBlock (needs the maximum), NoBlock/NoOp (advisory).
    function: Mapped[str] = mapped_column(String(16), default="MaxWithBlock")
    # Values that survive a trivial rebase (Gerrit's copyCondition), e.g. "-1,1".
    copy_values: Mapped[str] = mapped_column(String(64), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("repository_id", "name"),)


class Vote(Base):
    """One user's value for one label on one change; changeable, so one row per triple.

    `patch_set_number` is the patch set it was given on (or copied to): a vote on an older
    patch set than the change's current one is stale, kept for the record but not counted.
    """

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    patch_set_number: Mapped[int] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String(16), default="web")  # web, api, review, ci
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
    change: Mapped[Change] = relationship()

    __table_args__ = (
        UniqueConstraint("change_id", "user_id", "label"),
        # Covers tallying a label's votes on a patch set (the review queue counts them for
        # every open change): no table row is read.
        Index("ix_votes_tally", "change_id", "label", "patch_set_number", "user_id", "value"),
    )


class QualityGate(Base):
    """A repository's submit rules. No row means the defaults below."""

    __tablename__ = "quality_gates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), unique=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Weighted Code-Review +1 votes (authors' own excluded) that stand in for a +2.
    quorum: Mapped[float] = mapped_column(Float, default=2.0)
    # "auto": Verified +1 required where the repository has .forge/ci.yml or a required
    # status check; "always"; "never".
    require_verified: Mapped[str] = mapped_column(String(8), default="auto")
    # A change that becomes submittable enters its branch's merge queue by itself.
    auto_submit: Mapped[bool] = mapped_column(Boolean, default=True)
    # False (the default): a change needs an approval by a person with standing here (a
    # writer, a triager, or enough earned trust); True: trusted +1s reaching the quorum do.
    community_quorum: Mapped[bool] = mapped_column(Boolean, default=False)
    # Crowdsourced triage: trust-weighted "I can reproduce this" that confirm an issue
    # (None: forge.gate.quality_gate's default).
    triage_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReputationEvent(Base):
    """One step of a user's reputation, with why; `users.reputation` caches the global sum."""

    __tablename__ = "reputation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL"), nullable=True
    )
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="SET NULL"), nullable=True
    )
    # Triage's events are about an issue (forge.issues.triage), settled once per issue.
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="SET NULL"), nullable=True
    )
    # merged_author, vote_agreed, vote_disagreed, reverted_author, reverted_approver,
    # audit_passed, audit_failed, ...
    kind: Mapped[str] = mapped_column(String(32))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_reputation_events_user_id_created_at", "user_id", "created_at"),
        Index("ix_reputation_events_user_id_repository_id", "user_id", "repository_id"),
        # One settlement per (user, kind, change): settling twice must not pay twice.
        Index(
            "ix_reputation_events_once",
            "user_id",
            "kind",
            "change_id",
            unique=True,
        ),
        Index("ix_reputation_events_once_per_issue", "user_id", "kind", "issue_id", unique=True),
    )


class TrustEdge(Base):
    """One decision by which `truster` gave `trustee` trust in a repository (or, with a
    negative amount, took some back): merging their change, agreeing with their vote, an
    audit they answered, a vouch (recorded by `forge.accounts.trust_edges`).
    `forge.accounts.trust` lets trust flow from the repository's maintainers along these
    edges; an edge from someone who holds none carries nothing."""

    __tablename__ = "trust_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    truster_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    trustee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="SET NULL"), nullable=True
    )
    # merged, agreed, audit, vouch; reverted, audit_failed take trust back.
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_trust_edges_repository_id", "repository_id"),
        # One edge per decision: settling a change twice must not give twice.
        Index(
            "ix_trust_edges_once",
            "repository_id",
            "truster_id",
            "trustee_id",
            "kind",
            "change_id",
            unique=True,
        ),
    )


class ReviewClaim(Base):
    """A reviewer's claim on a change in the review queue, so two reviewers don't collide."""

    __tablename__ = "review_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class Audit(Base):
    """A change a maintainer marked as known-bad or known-good, to measure reviewers by."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), unique=True
    )
    expected: Mapped[str] = mapped_column(String(8))  # "bad" or "good"
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MERGE_QUEUE_STATES = ("queued", "testing", "merged", "ejected", "removed")
MERGE_QUEUE_ACTIVE = ("queued", "testing")


class MergeQueueEntry(Base):
    """A change waiting in (or gone from) its target branch's merge queue.

    While `testing`, `speculative_sha` is the merge of the branch tip and every change ahead
    in the queue plus this one; CI runs on it and, if it passes, the branch is fast-forwarded
    to exactly that commit. `base_sha` is the commit it was built on: the branch tip for the
    head of the queue, else the speculative commit of the entry ahead (so an entry whose base
    is no longer that is stale and rebuilt). `bypass` records that an admin queued a change
    whose submit requirements were unmet.
    """

    __tablename__ = "merge_queue_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(255))
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    method: Mapped[str] = mapped_column(String(8), default="merge")  # merge, squash, rebase
    enqueued_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    base_sha: Mapped[str | None] = mapped_column(String(40), nullable=True)
    speculative_sha: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ci_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("ci_runs.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    bypass: Mapped[bool] = mapped_column(Boolean, default=False)
    # A topic submitted whole (forge.gate.topics): its entries share the id of the first, and
    # land together or leave together.
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    change: Mapped[Change] = relationship(lazy="joined")
    repository: Mapped[Repository] = relationship()
    enqueued_by: Mapped[User | None] = relationship()

    __table_args__ = (
        Index(
            "ix_merge_queue_entries_repository_id_branch_state", "repository_id", "branch", "state"
        ),
        Index("ix_merge_queue_entries_change_id", "change_id"),
    )
