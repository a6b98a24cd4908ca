"""Organizations: accounts that own repositories on behalf of their members, and the teams
through which members get a role on those repositories.

An organization is a `User` row with `is_organization` set, as on GitHub where users and
organizations share one login namespace: `/OWNER/REPO` URLs, git paths and `Repository.owner`
work unchanged. Its row has no usable password, so nobody signs in as it. What only an
organization has (its settings) lives in `Organization`, keyed by that account's id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow
from forge.models.accounts import User
from forge.models.repos import Repository


class Organization(Base):
    """The settings of an organization account (`id` is its `users.id`)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # GitHub's base permission: the role every member has on every repository of the
    # organization ("none" or a role of forge.accounts.permissions.ROLES); GitHub's default.
    default_repository_permission: Mapped[str] = mapped_column(String(16), default="read")
    # Whether members (not only owners) may create repositories in it; GitHub's default.
    members_can_create_repositories: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[User] = relationship(lazy="joined")


class OrgMembership(Base):
    """A user's membership of an organization; `role` is GitHub's: "member" or "admin" (an
    owner, who may do anything to the organization and its repositories)."""

    __tablename__ = "org_memberships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    __table_args__ = (UniqueConstraint("org_id", "user_id"),)


class Team(Base):
    """A group of an organization's members, given roles on some of its repositories."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # "closed" (every member of the organization sees it) or "secret" (its members and the
    # owners only), as GitHub's `privacy`.
    privacy: Mapped[str] = mapped_column(String(16), default="closed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    org: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("org_id", "slug"),)


class TeamMember(Base):
    """A member of a team; `role` is GitHub's "member" or "maintainer"."""

    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("team_id", "user_id"),)


class TeamRepository(Base):
    """A team's role on one of its organization's repositories (read ... admin)."""

    __tablename__ = "team_repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))

    team: Mapped[Team] = relationship(lazy="joined")
    repository: Mapped[Repository] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("team_id", "repository_id"),)
