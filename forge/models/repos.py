"""Repositories and the people who may work on them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    lower_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A fork names the repository it was made from; it shares nothing writable with it.
    fork_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL"), nullable=True
    )
    # The repository's own severities of the pushed-object checks, "msgId=severity,..." as
    # git's receive.fsck.<msg-id> (forge.git.fsck); empty: the site's.
    fsck: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A push to refs/for/* of a commit without a Change-Id trailer is refused, as Gerrit's
    # receive.requireChangeId (on by default there too).
    require_change_id: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Pushes carrying credentials are refused (forge.repos.push_protection); None: the site's
    # FORGE_PUSH_PROTECTION decides.
    push_protection: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    # Numbers of changes (#1, #2, ...) are handed out from here.
    last_change_number: Mapped[int] = mapped_column(Integer, default=0)

    owner: Mapped[User] = relationship(lazy="joined")
    fork_of: Mapped[Repository | None] = relationship(remote_side="Repository.id")
    collaborators: Mapped[list[Collaborator]] = relationship(
        back_populates="repository", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("owner_id", "lower_name"),)

    @property
    def full_name(self) -> str:
        return f"{self.owner.name}/{self.name}"


class Collaborator(Base):
    """A user given a role on a repository: read, triage, write, maintain or admin."""

    __tablename__ = "collaborators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    repository: Mapped[Repository] = relationship(back_populates="collaborators")
    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("repository_id", "user_id"),)


class Watch(Base):
    """A user's subscription to a repository, as GitHub's: watching (news of every change in
    it, `ignored` false) or ignoring (no news from it at all, not even mentions)."""

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
    repository: Mapped[Repository] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "repository_id"),)
