"""What search reads: one row per searchable thing (a repository, a change, an issue, a file of
a default branch), whatever the engine that indexes its text.

The full-text index itself is the database's own and lives beside these rows: an FTS5 table
kept in step by triggers on SQLite, a generated `tsvector` column with a GIN index on
PostgreSQL (migration 0016). Neither is mapped here: forge.search.engines queries them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forge.db import Base, UTCDateTime, utcnow

# The kinds of document.
REPOSITORY, CHANGE, ISSUE, CODE = "repository", "change", "issue", "code"


class SearchDocument(Base):
    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "repository_id", "key"),
        Index("ix_search_documents_target", "kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Every document belongs to a repository, whose visibility decides who may find it; its
    # deletion takes the documents with it.
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    # Which one of its kind in the repository: "" for the repository itself, the change's or
    # the issue's id, the file's path.
    key: Mapped[str] = mapped_column(Text, default="")
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a change's, an issue's
    title: Mapped[str] = mapped_column(Text, default="")  # ranks above the body
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(40), default="")
    blob_sha: Mapped[str] = mapped_column(String(40), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CodeIndexState(Base):
    """How far a repository's code index got: the default branch commit it shows, and what it
    left out (so results can say the index is partial)."""

    __tablename__ = "search_code_states"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    commit_sha: Mapped[str] = mapped_column(String(40), default="")
    files: Mapped[int] = mapped_column(Integer, default=0)
    skipped_large: Mapped[int] = mapped_column(Integer, default=0)
    skipped_binary: Mapped[int] = mapped_column(Integer, default=0)
    skipped_over_cap: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
