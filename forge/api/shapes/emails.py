"""A user's email addresses as GET /user/emails shows them."""

from __future__ import annotations

from forge.models import User


def emails(user: User) -> list[dict]:
    """forge keeps one address per account: the primary one, confirmed at sign-up."""
    return [{"email": user.email, "primary": True, "verified": True, "visibility": "private"}]
