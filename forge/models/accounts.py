"""Accounts: users, their personal access tokens, login throttling and site-wide settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forge.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(39))
    # Names are unique regardless of case, as on GitHub; `name` keeps the spelling chosen.
    lower_name: Mapped[str] = mapped_column(String(39), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Signed up while FORGE_SIGNUP=approval and not yet approved by an admin: cannot sign in
    # nor use a token until then.
    is_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The sum of the user's reputation events (forge.models.quality.ReputationEvent), cached.
    reputation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Part of every session's user id (see get_id): raising it ends every session signed in
    # before, on a sign-out, a password change or "sign out everywhere".
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tokens: Mapped[list[AccessToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="AccessToken.id"
    )

    __table_args__ = (Index("ix_users_email", "email"),)

    # Flask-Login reads these four; they live here so the model needs no Flask import.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.is_suspended and not self.is_pending

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # "ID:VERSION": a session (or remember cookie) holding an older version is signed out.
        return f"{self.id}:{self.session_version or 0}"


class AccessToken(Base):
    """A personal access token. Only a SHA-256 of the secret is stored; it is shown once."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user can tell tokens apart in the settings page.
    token_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class LoginFailure(Base):
    """No longer written or read: failed sign-ins are counted in Redis now
    (`forge.accounts.users.check_credentials`). The table and any old rows stay, unused,
    so that the change needed no migration."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


class SiteSetting(Base):
    """Site-wide switches an admin can flip in the browser (e.g. whether sign-up is open)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
