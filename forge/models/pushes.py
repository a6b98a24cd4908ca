"""A record of every ref change: who moved which ref from where to where, and how."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
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
