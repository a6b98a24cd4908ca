"""The outbox: jobs that must follow a committed change, written in the same transaction.

A row is the promise that `func(*args)` will be put on `queue` once the transaction that wrote
it commits (and never if it rolls back). `forge.outbox` hands it to rq right after the commit
and deletes it; a row still here a little later is one whose hand-over failed (Redis was down,
the process died), and the relay puts it on the queue then.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forge.db import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(16))
    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[str] = mapped_column(Text)  # a JSON list
    job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_outbox_messages_created_at", "created_at"),)
