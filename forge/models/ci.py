"""CI runs and their jobs: the database is the one record of what ran, where and how it ended.

A run is one commit's `.forge/ci.yml` being run (after a push, a new patch set or a re-run);
each job of the file is a `CiJob` row, and an rq job per attempt carries it to a worker.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User
from forge.models.repos import Repository

# waiting: held for approval (a newcomer's change); queued: ready or waiting on `needs`.
JOB_STATES = (
    "waiting",
    "queued",
    "running",
    "passed",
    "failed",
    "errored",
    "cancelled",
    "timed_out",
)
FINISHED = ("passed", "failed", "errored", "cancelled", "timed_out")
PENDING = ("waiting", "queued")


class CiRun(Base):
    __tablename__ = "ci_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    event: Mapped[str] = mapped_column(String(16))  # push, change, repro
    # A repro run (forge.issues.repro): the issue whose script it runs.
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="SET NULL"), nullable=True, index=True
    )
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("changes.id", ondelete="SET NULL"), nullable=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), default="queued")
    # Why the run errored before any job ran (a malformed .forge/ci.yml, say).
    reason: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The forge's external URL when the run was asked for: commit statuses link back with it.
    base_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    repository: Mapped[Repository] = relationship()
    actor: Mapped[User | None] = relationship()
    jobs: Mapped[list[CiJob]] = relationship(
        back_populates="run", order_by="CiJob.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_ci_runs_repository_id_sha", "repository_id", "sha"),
        Index("ix_ci_runs_change_id", "change_id"),
    )


class CiJob(Base):
    __tablename__ = "ci_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ci_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(Text, default="")
    script: Mapped[str] = mapped_column(Text)
    # The job's definition beyond its script, as JSON: env, needs, timeout, network, limits.
    definition: Mapped[str] = mapped_column(Text, default="{}")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # host:worker_pid:horse_pid of the process running it, for the reconciler.
    runner: Mapped[str] = mapped_column(String(255), default="")
    sandboxed: Mapped[bool] = mapped_column(Boolean, default=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    run: Mapped[CiRun] = relationship(back_populates="jobs")

    __table_args__ = (
        Index("ix_ci_jobs_run_id", "run_id"),
        Index("ix_ci_jobs_state", "state"),
    )
