"""Crowdsourced triage's rows, beside the tracker's (forge.models.issues).

- `IssueConfirmation`: one person's "I can reproduce this" (`reproducible` true) or "cannot
  reproduce" on an issue, with a note of their environment; one per person and issue (pressing
  again changes it), so one person's confirmation counts once.
- `IssueTriageClaim`: a triager's claim on an issue in the triage queue, as `ReviewClaim` is
  on a change in the review queue, so two triagers don't look at the same report at once.

The repository's threshold is `QualityGate.triage_threshold`; a CI run reproducing an issue is
a `CiRun` with event "repro" and `issue_id`; reputation for triage is `ReputationEvent` rows
with `issue_id`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User


class IssueConfirmation(Base):
    __tablename__ = "issue_confirmations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reproducible: Mapped[bool] = mapped_column(Boolean)
    environment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("issue_id", "user_id"),)


class IssueTriageClaim(Base):
    __tablename__ = "issue_triage_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")
