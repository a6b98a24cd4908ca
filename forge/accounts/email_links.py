"""Links mailed to an account's address: verifying the address, and resetting a forgotten
password.

A link holds a random secret; the database keeps only an HMAC of it under the site's
SECRET_KEY (a copy of the database alone neither opens a link nor finds one), with its purpose,
the address it was sent to, when it expires and when it was used: each link works once.
A password reset says the same whether or not an account has the address, and ends every
session of the account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forge.accounts import mail
from forge.accounts.users import EMAIL_RE, set_password
from forge.config import SmtpSettings
from forge.db import utcnow
from forge.errors import Invalid
from forge.models import AccountLink, User

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
LIFETIMES = {VERIFY_EMAIL: timedelta(days=3), RESET_PASSWORD: timedelta(hours=1)}
# Reset mails one account may be sent an hour: "forgot password" must not become a way to
# flood someone's inbox.
RESETS_PER_HOUR = 3

EXPIRED = "This link has expired or was used already. Ask for a new one."


def _digest(key: str, secret: str) -> str:
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def issue_link(session: Session, user: User, purpose: str, key: str) -> str:
    """A new link's secret for `user`'s current address (only its HMAC is stored)."""
    secret = secrets.token_urlsafe(32)
    session.add(
        AccountLink(
            user_id=user.id,
            purpose=purpose,
            token_hash=_digest(key, secret),
            email=user.email,
            expires_at=utcnow() + LIFETIMES[purpose],
        )
    )
    session.flush()
    return secret


def find_link(session: Session, secret: str, purpose: str, key: str) -> AccountLink:
    """The unused, unexpired link `secret` opens, or Invalid."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        raise Invalid(EXPIRED)
    link = session.scalar(select(AccountLink).where(AccountLink.token_hash == _digest(key, secret)))
    if link is None or link.purpose != purpose or link.used_at is not None:
        raise Invalid(EXPIRED)
    if link.expires_at <= utcnow():
        raise Invalid(EXPIRED)
    return link


def _use(session: Session, link: AccountLink) -> None:
    """Mark the link used, once: of two requests opening it at the same moment, one wins."""
    used = session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:
        raise Invalid(EXPIRED)


# --- address verification --------------------------------------------------------------------


def send_verification(
    session: Session, user: User, smtp: SmtpSettings | None, base_url: str, key: str
) -> None:
    """Mail `user` a link proving their address is theirs."""
    if not user.email:
        raise Invalid("Set an e-mail address first.", field="email")
    secret = issue_link(session, user, VERIFY_EMAIL, key)
    body = (
        f"Hello {user.name},\n\n"
        f"open this link to confirm that {user.email} is your address on forge:\n\n"
        f"{base_url}/verify-email/{secret}\n\n"
        "The link works once, for 3 days. If you did not ask for this, ignore this mail.\n"
    )
    mail.queue_mail(session, smtp, user.email, "Verify your e-mail address", body)


def verify_email(session: Session, secret: str, key: str) -> User:
    """Open a verification link: the address it was sent to is verified, if it is still the
    account's address."""
    link = find_link(session, secret, VERIFY_EMAIL, key)
    user = session.get(User, link.user_id)
    if user is None or user.email.lower() != link.email.lower():
        raise Invalid("This link was for an address the account no longer has.")
    _use(session, link)
    user.email_verified = True
    return user


# --- password reset ----------------------------------------------------------------------------


def request_password_reset(
    session: Session, email: str, smtp: SmtpSettings | None, base_url: str, key: str
) -> None:
    """Mail a reset link to the account with this address, if there is one (the caller says
    the same either way, so the form tells nobody which addresses have accounts)."""
    email = (email or "").strip()
    if not EMAIL_RE.fullmatch(email) or len(email) > 254:
        raise Invalid("Enter an e-mail address.", field="email")
    user = session.scalar(select(User).where(User.lower_email == email.lower()))
    if user is None or user.is_suspended or user.is_pending:
        return
    recent = session.scalar(
        select(func.count(AccountLink.id)).where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == RESET_PASSWORD,
            AccountLink.created_at > utcnow() - timedelta(hours=1),
        )
    )
    if recent >= RESETS_PER_HOUR:
        return
    secret = issue_link(session, user, RESET_PASSWORD, key)
    body = (
        f"Hello {user.name},\n\n"
        "someone (we hope you) asked to reset the password of your account on forge. "
        "Open this link to choose a new one:\n\n"
        f"{base_url}/password/reset/{secret}\n\n"
        "The link works once, for an hour, and signs you out everywhere. If you did not ask "
        "for this, ignore this mail: your password stays as it is.\n"
    )
    mail.queue_mail(session, smtp, user.email, "Reset your forge password", body)


def reset_password(session: Session, secret: str, password: str, key: str) -> User:
    """Set a new password through a reset link: it works once, ends every session of the
    account and every other reset link, and proves the address it was sent to."""
    link = find_link(session, secret, RESET_PASSWORD, key)
    user = session.get(User, link.user_id)
    if user is None:
        raise Invalid(EXPIRED)
    set_password(session, user, password)  # Invalid for a short password, before using up
    _use(session, link)
    session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == RESET_PASSWORD,
            AccountLink.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    if user.email.lower() == link.email.lower():
        user.email_verified = True  # the mail reached its owner
    return user
