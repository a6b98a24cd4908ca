"""Releases (a tag with notes and uploaded files) and stars (who marked a repository)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User
from forge.models.repos import Repository


class Release(Base):
    """A tag of the repository with a title, notes and files, as GitHub's releases. A draft is
    seen by writers only and has no tag yet; publishing it creates the tag if it is missing."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    tag_name: Mapped[str] = mapped_column(String(255))
    # Where the tag is made from when publishing creates it: a branch name or a commit id.
    target_commitish: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    prerelease: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    repository: Mapped[Repository] = relationship()
    author: Mapped[User | None] = relationship(lazy="joined")
    assets: Mapped[list[ReleaseAsset]] = relationship(
        back_populates="release",
        cascade="all, delete-orphan",
        order_by="ReleaseAsset.id",
    )

    __table_args__ = (UniqueConstraint("repository_id", "tag_name"),)


class ReleaseAsset(Base):
    """A file uploaded to a release. Its bytes live under FORGE_HOME (forge.repos.release_files),
    not in the database; `digest` is their sha256, as GitHub's `sha256:...`."""

    __tablename__ = "release_assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(80))
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    uploader_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    release: Mapped[Release] = relationship(back_populates="assets")
    uploader: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("release_id", "name"),)


class Star(Base):
    """A user starred a repository (GitHub's stargazers)."""

    __tablename__ = "stars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
    repository: Mapped[Repository] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "repository_id"),)
