"""Webhooks (GitHub's shape) and the record of every delivery and its attempts.

A hook belongs to a repository, or to no repository: then it is a system hook (GitHub
Enterprise's "global webhook"), set up by a site admin, and receives every repository's events.

The database is the source of truth for deliveries: the queue only says "try this one now".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.repos import Repository


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True, nullable=True
    )
    url: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(8), default="form")
    secret: Mapped[str] = mapped_column(Text, default="")
    insecure_ssl: Mapped[bool] = mapped_column(Boolean, default=False)
    # Space-separated event names; "*" means every event.
    events: Mapped[str] = mapped_column(Text, default="push")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    repository: Mapped[Repository | None] = relationship(lazy="joined")

    @property
    def is_system(self) -> bool:
        return self.repository_id is None

    @property
    def event_list(self) -> list[str]:
        return self.events.split()

    def wants(self, event: str) -> bool:
        return event == "ping" or "*" in self.event_list or event in self.event_list


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64), nullable=True)
    guid: Mapped[str] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)  # the JSON document, as sent
    # The headers of the latest attempt, as JSON (they carry that attempt's signature).
    request_headers: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(
        String(16), default="pending", index=True
    )  # delivered, failed
    redelivery: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    attempts: Mapped[list[WebhookAttempt]] = relationship(
        order_by="WebhookAttempt.number", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (Index("ix_webhook_deliveries_hook_id_id", "hook_id", "id"),)

    @property
    def latest_attempt(self) -> WebhookAttempt | None:
        return self.attempts[-1] if self.attempts else None


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[str] = mapped_column(Text, default="{}")
    response_body: Mapped[str] = mapped_column(Text, default="")  # at most BODY_EXCERPT bytes
    error: Mapped[str] = mapped_column(Text, default="")
