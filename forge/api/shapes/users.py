"""Users as GitHub shows them: the simple user embedded in every other shape, the full user
of GET /users/{u} (and the private one of GET /user), and the `permissions` object a role
grants.

Fields for what forge does not have (followers, gists, a biography) take the empty value
GitHub's schema allows (0, null), and the URLs of GitHub's user resources are GitHub's, so a
client that follows one gets forge's plain 404 rather than a missing field."""

from __future__ import annotations

from flask import current_app, has_app_context

from forge.accounts.avatars import gravatar_url
from forge.accounts.permissions import ROLE_RANK
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.models import User
from forge.repos.repositories import AccountUsage


def avatar_url(user: User) -> str:
    """forge's identicon of the account, or Gravatar's picture where the admin chose it."""
    settings = current_app.extensions.get("forge.settings") if has_app_context() else None
    if settings is not None and settings.avatars == "gravatar" and user.email:
        return gravatar_url(user.email)
    return external_url(f"/avatars/{user.name}.png")


def simple_user(user: User) -> dict:
    url = api_url(f"/users/{user.name}")
    return {
        "login": user.name,
        "id": user.id,
        "node_id": f"U_{user.id}",
        "avatar_url": avatar_url(user),
        "gravatar_id": "",  # GitHub's too: deprecated, always empty
        "url": url,
        "html_url": external_url(f"/{user.name}"),
        "followers_url": url + "/followers",
        "following_url": url + "/following{/other_user}",
        "gists_url": url + "/gists{/gist_id}",
        "starred_url": url + "/starred{/owner}{/repo}",
        "subscriptions_url": url + "/subscriptions",
        "organizations_url": url + "/orgs",
        "repos_url": url + "/repos",
        "events_url": url + "/events{/privacy}",
        "received_events_url": url + "/received_events",
        "type": "Organization" if user.is_organization else "User",
        "site_admin": user.is_admin,
        "user_view_type": "public",
    }


def full_user(user: User, public_repos: int, usage: AccountUsage | None = None) -> dict:
    """GET /users/{u}; with `usage` (the counts only the account itself may see), the
    private user of GET /user, which also shows the e-mail address."""
    body = simple_user(user) | {
        "name": user.full_name or None,
        "company": None,
        "blog": None,
        "location": None,
        "email": user.email if usage is not None else None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }
    if usage is not None:
        body |= {
            "private_gists": 0,
            "total_private_repos": usage.total_private_repos,
            "owned_private_repos": usage.owned_private_repos,
            "disk_usage": usage.disk_usage,
            "collaborators": usage.collaborators,
            "two_factor_authentication": False,  # forge has no second factor
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
