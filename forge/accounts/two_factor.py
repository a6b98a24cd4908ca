"""Two-factor sign-in: a time-based one-time password (TOTP, RFC 6238, through pyotp) after
the password, and ten single-use recovery codes for a lost phone.

Enrolment stores a new secret and shows it (a QR code of its otpauth:// URI); two-factor is
on only once a code from it is confirmed. Each accepted TOTP time step is remembered, so a
code signs in once. Recovery codes are stored as SHA-256 hashes and work once each. Turning
two-factor off needs a current code (or a recovery code). Tokens still work for git and the
API; a password alone there is refused (forge.accounts.users.check_credentials).
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from forge.accounts import rate_limits
from forge.accounts.users import login_buckets
from forge.config import LoginLimits
from forge.db import utcnow
from forge.errors import Invalid, Throttled
from forge.models import RecoveryCode, User

ISSUER = "forge"
RECOVERY_CODES = 10
# Codes of the step before and after the current one are accepted too: phones' clocks drift.
VALID_WINDOW = 1
WRONG_CODE = "That code is not right (or was used already). Try the next one."


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def begin_enrolment(session: Session, user: User) -> str:
    """A new secret for `user`, not in force until confirmed. Returns it (base32)."""
    if user.two_factor_enabled:
        raise Invalid("Two-factor sign-in is on already; turn it off first to start over.")
    user.two_factor_secret = pyotp.random_base32()
    user.two_factor_last_step = 0
    return user.two_factor_secret


def provisioning_uri(user: User, site: str) -> str:
    """The otpauth:// URI authenticator apps read (from the QR code)."""
    return _totp(user.two_factor_secret).provisioning_uri(
        name=f"{user.name}@{site}", issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str | None:
    """The URI as an SVG QR code (segno), or None when segno is not installed: then the page
    shows the URI and the secret to type in."""
    try:
        import segno
    except ImportError:
        return None
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")


def _matching_step(secret: str, code: str, last_step: int) -> int | None:
    """The time step `code` belongs to, within the window and after `last_step`, or None."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = _totp(secret)
    now = int(time.time()) // totp.interval
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if step > last_step and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_enrolment(session: Session, user: User, code: str) -> list[str]:
    """Turn two-factor on with a code from the new secret; returns the recovery codes (shown
    once)."""
    if user.two_factor_enabled or not user.two_factor_secret:
        raise Invalid("Start the set-up first.")
    step = _matching_step(user.two_factor_secret, code, 0)
    if step is None:
        raise Invalid(WRONG_CODE, field="code")
    user.two_factor_enabled = True
    user.two_factor_last_step = step
    return new_recovery_codes(session, user)


def _hash_code(code: str) -> str:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace `user`'s recovery codes with ten new ones (xxxxx-xxxxx, as GitHub's)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    query = select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return len(session.scalars(query).all())


def check_second_factor(session: Session, user: User, code: str) -> str:
    """Accept a current TOTP code (once) or an unused recovery code (using it up). Returns
    "totp" or "recovery"; Invalid otherwise."""
    if not user.two_factor_enabled or not user.two_factor_secret:
        raise Invalid("Two-factor sign-in is not on for this account.")
    step = _matching_step(user.two_factor_secret, code, user.two_factor_last_step or 0)
    if step is not None:
        # Conditional, so two requests with the same code cannot both pass.
        taken = session.execute(
            update(User)
            .where(User.id == user.id, User.two_factor_last_step < step)
            .values(two_factor_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            user.two_factor_last_step = step
            return "totp"
        raise Invalid(WRONG_CODE, field="code")
    if len((code or "").strip()) <= 20:
        used = session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash_code(code or ""),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )
        if used.rowcount == 1:
            return "recovery"
    raise Invalid(WRONG_CODE, field="code")


def check_sign_in_code(
    session: Session, user: User, code: str, client_ip: str, limits: LoginLimits, *, connection
) -> str:
    """The second step of signing in: `check_second_factor`, with wrong codes counted as
    failed sign-ins are (a million codes are guessable without a limit)."""
    buckets = login_buckets(f"2fa:{user.lower_name}", client_ip, limits)
    retry_after = rate_limits.reserve(connection, buckets, limits.window_seconds)
    if retry_after:
        raise Throttled("too many wrong codes; try again in a few minutes", retry_after=retry_after)
    kind = check_second_factor(session, user, code)  # Invalid: the failure stays counted
    for bucket in buckets:
        rate_limits.refund(connection, bucket)
    return kind


def disable(session: Session, user: User, code: str) -> None:
    """Turn two-factor off, proven with a current code or a recovery code."""
    check_second_factor(session, user, code)
    user.two_factor_enabled = False
    user.two_factor_secret = None
    user.two_factor_last_step = 0
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
