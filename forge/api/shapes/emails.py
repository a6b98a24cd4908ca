"""A user's email addresses as GET /user/emails shows them."""

from __future__ import annotations

from forge.models import User


def emails(user: User) -> list[dict]:
    """forge keeps one address per account, the primary one; verified once the link mailed
    to it was opened. An account whose address was cleared (a duplicate) lists none."""
    if not user.email:
        return []
    return [
        {
            "email": user.email,
            "primary": True,
            "verified": bool(user.email_verified),
            "visibility": "private",
        }
    ]
