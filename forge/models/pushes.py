"""A record of every ref change: who moved which ref from where to where, and how."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User


class PushEvent(Base):
    __tablename__ = "push_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    pusher_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    ref: Mapped[str] = mapped_column(String(255))
    before: Mapped[str] = mapped_column(String(40))
    after: Mapped[str] = mapped_column(String(40))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the ref moved: "push" (git), "web" or "api".
    via: Mapped[str] = mapped_column(String(16), default="push")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    pusher: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (Index("ix_push_events_repository_id_id", "repository_id", "id"),)


class SecretBypass(Base):
    """A secret push protection lets into a repository because a pusher said why (GitHub's
    "allow secret"): found again by its fingerprint, a hash of the secret; the secret itself
    is never stored."""

    __tablename__ = "secret_bypasses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The gitleaks rule that found it (forge/repos/secret_patterns.toml).
    rule_id: Mapped[str] = mapped_column(String(64))
    # false_positive, used_in_tests or will_fix_later (forge.repos.push_protection.REASONS).
    reason: Mapped[str] = mapped_column(String(32))
    # Where the refused push had it, for the admins' list.
    path: Mapped[str] = mapped_column(Text)
    commit_sha: Mapped[str] = mapped_column(String(40))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("repository_id", "fingerprint"),)
