"""Accounts: creating users, checking passwords with throttling, personal access tokens, and
who may sign up (FORGE_SIGNUP, FORGE_SIGNUP_RATE and the admin's approval of new accounts)."""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.accounts import rate_limits
from forge.accounts.names import check_user_name
from forge.config import LoginLimits
from forge.db import utcnow
from forge.errors import Forbidden, Invalid, NotFound, Throttled
from forge.models import AccessToken, SiteSetting, User

# Scopes a token may carry, GitHub's names where GitHub has one.
SCOPES = {
    "repo": "read and write repositories you can access, including private ones",
    "delete_repo": "delete repositories",
    "admin:repo_hook": "manage repository webhooks",
    "admin:org": "manage your organizations, their members and teams",
    "user": "read and change your profile",
    "site_admin": "administer this forge (admins only)",
}
ADMIN_ONLY_SCOPES = frozenset({"site_admin"})
TOKEN_PREFIX = "forge_"
MIN_PASSWORD_LENGTH = 8
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the account does not exist, so a miss takes as long as a wrong
    password. Made on first use: hashing costs every `forge` command a tenth of a second."""
    return _hasher.hash("not a real password")


def find_user(session: Session, name: str) -> User | None:
    if not isinstance(name, str):
        return None
    return session.scalar(select(User).where(User.lower_name == name.lower()))


def users_by_email(session: Session, emails) -> dict[str, User]:
    """Active accounts by their (lower-cased) email address, for naming commit authors."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return {}
    query = select(User).where(
        User.lower_email.in_(wanted),
        User.is_suspended.is_(False),
        User.is_pending.is_(False),
    )
    return {user.email.lower(): user for user in session.scalars(query)}


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def create_user(
    session: Session,
    name: str,
    email: str,
    password: str,
    is_admin: bool = False,
    pending: bool = False,
) -> User:
    """Create an account; `pending` (sign-up awaiting approval) makes it unable to sign in or
    use a token until an admin approves it. The first account never waits: it is the admin."""
    check_user_name(name)
    email = (email or "").strip()
    if not EMAIL_RE.fullmatch(email) or len(email) > 254:
        raise Invalid(f"invalid email address {email!r}", field="email")
    check_password(password)
    if find_user(session, name) is not None:
        raise Invalid(f"a user named {name!r} already exists", field="name")
    check_email_free(session, email)
    if session.scalar(select(func.count()).select_from(User)) == 0:
        is_admin = True  # as in Gitea: the first account administers the forge
    user = User(
        name=name,
        lower_name=name.lower(),
        email=email,
        password_hash=_hasher.hash(password),
        is_admin=is_admin,
        is_pending=pending and not is_admin,
    )
    session.add(user)
    session.flush()
    return user


def check_email_free(session: Session, email: str, user: User | None = None) -> None:
    """Refuse an address another account has, regardless of case (ix_users_lower_email)."""
    query = select(User.id).where(User.lower_email == email.lower())
    if user is not None:
        query = query.where(User.id != user.id)
    if session.scalar(query.limit(1)) is not None:
        raise Invalid(
            f"the e-mail address {email} is already used by another account", field="email"
        )


def change_email(session: Session, user: User, email: str) -> bool:
    """Give `user` a new address, unverified until its link is opened. Returns whether it
    changed (the same address in another case changes the spelling only)."""
    email = (email or "").strip()
    if not EMAIL_RE.fullmatch(email) or len(email) > 254:
        raise Invalid("invalid email address", field="email")
    if email == user.email:
        return False
    check_email_free(session, email, user)
    if email.lower() != user.email.lower():
        user.email_verified = False
    user.email = email
    return True


def check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > 1024:
        raise Invalid("the password is too long", field="password")


def set_password(session: Session, user: User, password: str) -> None:
    """Change the password, ending every session signed in with the old one."""
    check_password(password)
    user.password_hash = _hasher.hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session and remember cookie made so far holds an
    older session version (forge.models.User.get_id) and no longer signs anyone in."""
    user.session_version = (user.session_version or 0) + 1


def password_matches(user: User | None, password: str) -> bool:
    try:
        ok = _hasher.verify(user.password_hash if user else _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None


@dataclass(frozen=True)
class Credentials:
    user: User
    # The token's scopes; None when the user gave their password, which is not limited.
    scopes: frozenset[str] | None

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


LOGIN_BUCKET = "login:"


def login_buckets(name: str, client_ip: str, limits: LoginLimits) -> dict[str, int]:
    """The failed-sign-in counts an attempt is held to: the account from this address, and
    this address across every account."""
    account = (name or "").lower()[:100]
    return {
        # The address first: it holds no space, so no two (address, name) pairs share a key.
        f"{LOGIN_BUCKET}pair:{client_ip} {account}": limits.per_user,
        f"{LOGIN_BUCKET}ip:{client_ip}": limits.per_ip,
    }


def check_credentials(
    session: Session,
    name: str,
    password: str,
    client_ip: str,
    limits: LoginLimits,
    accept_tokens: bool = False,
    *,
    connection,
) -> Credentials | None:
    """Check a name and password, refusing once too many attempts failed recently.

    Failures are counted in Redis (`connection`) per account and client address pair
    (`limits.per_user`) and per client address (`limits.per_ip`), never per account alone:
    whoever guesses from one address stops there, while the owner's right password from an
    address that has not been guessing still works. Each attempt takes its place in both
    counts atomically before the password is checked, so parallel guesses cannot race past a
    limit; a right password gives its place back.

    With `accept_tokens` (git over HTTP), a personal access token works as the password for
    any name, as on GitHub. Tokens are not throttled: they are too long to guess, and a valid
    one must not be refused because someone else failed with passwords from its address.
    """
    if accept_tokens and (password or "").startswith(TOKEN_PREFIX):
        # A token works with or without two-factor sign-in, as on GitHub.
        found = user_for_token(session, password)
        return None if found is None else Credentials(found[0], frozenset(found[1].scope_list))
    buckets = login_buckets(name, client_ip, limits)
    retry_after = rate_limits.reserve(connection, buckets, limits.window_seconds)
    if retry_after:
        raise Throttled(
            "too many failed sign-in attempts; try again in a few minutes",
            retry_after=retry_after,
        )
    user = find_user(session, name)
    if not password_matches(user, password) or user.is_suspended:
        return None  # the failure stays counted
    for bucket in buckets:  # the right password is no failed attempt
        rate_limits.refund(connection, bucket)
    if user.is_pending:  # said only to whoever knows the password
        raise AwaitingApproval("your account awaits an administrator's approval")
    if accept_tokens and user.two_factor_enabled:
        # git has no way to ask for the second factor: a password alone would skip it.
        raise TwoFactorRequired(
            "this account uses two-factor sign-in: use a personal access token as the "
            "password (Settings, Tokens)"
        )
    return Credentials(user, None)


# --- personal access tokens -----------------------------------------------------------------


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed_scopes(user: User) -> list[str]:
    return [s for s in SCOPES if user.is_admin or s not in ADMIN_ONLY_SCOPES]


def parse_scopes(user: User, scopes: str | list[str] | None) -> list[str]:
    """Validate a scope list (comma-separated or a list); None means every allowed scope."""
    if scopes is None:
        return allowed_scopes(user)
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise Invalid(
            f"unknown scope {unknown[0]!r}; known scopes: {', '.join(SCOPES)}", field="scopes"
        )
    forbidden = [s for s in scopes if s not in allowed_scopes(user)]
    if forbidden:
        raise Invalid(f"{user.name} may not hold the scope {forbidden[0]!r}", field="scopes")
    return [s for s in SCOPES if s in scopes]


def create_token(
    session: Session, user: User, label: str, scopes: str | list[str] | None = None
) -> tuple[AccessToken, str]:
    """Create a token; returns the row and the secret, which is never stored or shown again."""
    if user.is_organization:  # nobody acts as an organization: its members use their own
        raise Invalid(f"{user.name} is an organization, which has no tokens", field="user")
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise Invalid("a token needs a label of 1 to 100 characters", field="label")
    chosen = parse_scopes(user, scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = AccessToken(
        user=user,
        label=label,
        token_hash=_hash_token(secret),
        token_prefix=secret[: len(TOKEN_PREFIX) + 4],
        scopes=",".join(chosen),
    )
    session.add(token)
    session.flush()
    return token, secret


def user_for_token(session: Session, secret: str) -> tuple[User, AccessToken] | None:
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == _hash_token(secret)))
    if token is None or not token.user.is_active:
        return None
    now = utcnow()
    # Writing on every request would serialise readers on SQLite; a minute's precision is plenty.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token.user, token


def revoke_token(session: Session, user: User, token_id: int) -> None:
    token = session.get(AccessToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("no such token")
    session.delete(token)


# --- site settings --------------------------------------------------------------------------

SITE_DEFAULTS = {"signup_enabled": "1"}


def site_setting(session: Session, key: str) -> str:
    row = session.get(SiteSetting, key)
    return row.value if row else SITE_DEFAULTS[key]


def set_site_setting(session: Session, key: str, value: str) -> None:
    if key not in SITE_DEFAULTS:
        raise Invalid(f"unknown site setting {key!r}")
    row = session.get(SiteSetting, key)
    if row is None:
        session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value


def signup_enabled(session: Session) -> bool:
    return site_setting(session, "signup_enabled") == "1"


# --- sign-up ---------------------------------------------------------------------------------

SIGNUP_BUCKET = "signup:ip:"


class AwaitingApproval(Forbidden):
    """The password is right, but an admin has not approved the account yet."""


class TwoFactorRequired(Forbidden):
    """The password is right, but the account signs in with a second factor, which git and
    the API cannot ask for: they take a token instead."""


def signup_mode(session: Session, configured: str) -> str:
    """How the sign-up form works now: FORGE_SIGNUP (`configured`), or closed when an admin
    turned sign-up off on the admin page."""
    return "closed" if configured == "closed" or not signup_enabled(session) else configured


def reserve_signup(connection, client_ip: str, per_hour: int) -> None:
    """Count one sign-up from `client_ip` before the account is made, so parallel requests
    cannot race past the limit; `release_signup` gives it back when none was made."""
    state = rate_limits.charge(connection, SIGNUP_BUCKET + client_ip, per_hour)
    if state.refused:
        retry_after = max(1, state.reset - int(time.time()))
        minutes = math.ceil(retry_after / 60)
        accounts = "account" if per_hour == 1 else "accounts"
        raise Throttled(
            f"Too many new accounts from your address: one address may create {per_hour} "
            f"{accounts} an hour. Try again in about {minutes} "
            f"minute{'' if minutes == 1 else 's'}.",
            retry_after=retry_after,
        )


def release_signup(connection, client_ip: str) -> None:
    rate_limits.refund(connection, SIGNUP_BUCKET + client_ip)


def pending_users(session: Session) -> list[User]:
    """Accounts awaiting an admin's approval, oldest first."""
    return list(session.scalars(select(User).where(User.is_pending.is_(True)).order_by(User.id)))


def _pending_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None or not user.is_pending:
        raise NotFound(f"no account named {name!r} awaits approval")
    return user


def approve_user(session: Session, name: str) -> User:
    """Let a pending account sign in and use its tokens."""
    user = _pending_user(session, name)
    user.is_pending = False
    return user


def reject_user(session: Session, name: str) -> None:
    """Delete a pending account (it never signed in, so it owns nothing); its name is free
    again, as GitLab's Reject does."""
    session.delete(_pending_user(session, name))
    session.flush()
