"""Accounts: users, their personal access tokens, the one-time links mailed to them (address
verification, password reset), two-factor recovery codes, login throttling and site-wide
settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from forge.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(39))
    # Names are unique regardless of case, as on GitHub; `name` keeps the spelling chosen.
    lower_name: Mapped[str] = mapped_column(String(39), unique=True)
    # Unique regardless of case (through lower_email); empty only for an account whose
    # address another, older account held when uniqueness came (migrations 0014, 0020).
    email: Mapped[str] = mapped_column(String(254))
    # `email` lower-cased, None when empty: what the unique index holds (set by _keep_lower_email).
    lower_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # True once the owner opened the verification link mailed to `email`.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    full_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    # An organization (forge.models.orgs) shares the login namespace; nobody signs in as one.
    is_organization: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Signed up while FORGE_SIGNUP=approval and not yet approved by an admin: cannot sign in
    # nor use a token until then.
    is_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The sum of the user's reputation events (forge.models.quality.ReputationEvent), cached.
    reputation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Part of every session's user id (see get_id): raising it ends every session signed in
    # before, on a sign-out, a password change or "sign out everywhere".
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Two-factor sign-in (TOTP, forge.accounts.two_factor): the base32 secret, set when
    # enrolment starts; `two_factor_enabled` once a code from it was confirmed. The last
    # accepted time step, so one code signs in once.
    two_factor_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    two_factor_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    two_factor_last_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tokens: Mapped[list[AccessToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="AccessToken.id"
    )

    __table_args__ = (
        Index("ix_users_email", "email"),
        Index("ix_users_lower_email", "lower_email", unique=True),
    )

    @validates("email")
    def _keep_lower_email(self, _key, email: str) -> str:
        # One place keeps the unique key in step with every write of the address.
        self.lower_email = (email or "").lower() or None
        return email

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


class AccountLink(Base):
    """A link mailed to an account: `verify_email` (proves `email` is the owner's) or
    `reset_password`. Only an HMAC of its secret is stored; it works once, until
    `expires_at`."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The address a verification link proves; a reset link's is where it was sent.
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecoveryCode(Base):
    """One of an account's two-factor recovery codes: a SHA-256 of it, usable once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailMessage(Base):
    """A mail forge sends (or, with no FORGE_SMTP_URL, shows to site admins): written in the
    transaction that caused it, sent by a job the outbox queues once that commits."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


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
