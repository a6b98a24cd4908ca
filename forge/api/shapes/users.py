"""Users as GitHub shows them: the simple user embedded in every other shape, the full user
of GET /user and /users/{u}, and the `permissions` object a role grants."""

from __future__ import annotations

from forge.accounts.permissions import ROLE_RANK
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.models import User


def simple_user(user: User) -> dict:
    url = api_url(f"/users/{user.name}")
    return {
        "login": user.name,
        "id": user.id,
        "node_id": f"U_{user.id}",
        "avatar_url": "",
        "gravatar_id": "",
        "url": url,
        "html_url": external_url(f"/{user.name}"),
        "repos_url": url + "/repos",
        "type": "User",
        "site_admin": user.is_admin,
    }


def full_user(user: User, public_repos: int, private: bool = False) -> dict:
    body = simple_user(user) | {
        "name": user.full_name or None,
        "email": user.email if private else None,
        "public_repos": public_repos,
        "followers": 0,
        "following": 0,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }
    return body


def permissions(role: str | None) -> dict:
    rank = ROLE_RANK.get(role, 0) if role else 0
    return {
        "admin": rank >= ROLE_RANK["admin"],
        "maintain": rank >= ROLE_RANK["maintain"],
        "push": rank >= ROLE_RANK["write"],
        "triage": rank >= ROLE_RANK["triage"],
        "pull": rank >= ROLE_RANK["read"],
    }
