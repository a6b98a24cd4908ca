"""Branch protection rules (GitHub's shape): what a push or merge to a branch must satisfy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forge.db import Base, UTCDateTime, utcnow


class BranchProtection(Base):
    __tablename__ = "branch_protections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    branch: Mapped[str] = mapped_column(String(255))
    allow_force_pushes: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_deletions: Mapped[bool] = mapped_column(Boolean, default=False)
    enforce_admins: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: no review requirement; otherwise changes must come through a reviewed change.
    required_approving_review_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # None: no status requirement; otherwise {"strict": bool, "contexts": [...]}.
    required_status_checks: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("repository_id", "branch"),)

    @property
    def required_contexts(self) -> list[str]:
        return list((self.required_status_checks or {}).get("contexts") or [])
