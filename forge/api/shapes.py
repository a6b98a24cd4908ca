"""The one place that builds GitHub JSON shapes from forge's models."""

from __future__ import annotations

from forge.models import Repository, User
from forge.services.permissions import ROLE_RANK
from forge.web import external_url

# forge role -> GitHub permission name, and back.
GITHUB_PERMISSION = {
    "read": "pull",
    "triage": "triage",
    "write": "push",
    "maintain": "maintain",
    "admin": "admin",
}
FORGE_ROLE = {v: k for k, v in GITHUB_PERMISSION.items()}


def api_url(path: str) -> str:
    return external_url("/api/v3" + path)


def timestamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


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


def repository(repo: Repository, role: str | None) -> dict:
    full_name = repo.full_name
    url = api_url(f"/repos/{full_name}")
    body = {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": full_name,
        "owner": simple_user(repo.owner),
        "private": repo.is_private,
        "visibility": "private" if repo.is_private else "public",
        "html_url": external_url(f"/{full_name}"),
        "description": repo.description or None,
        "fork": False,
        "url": url,
        "clone_url": external_url(f"/{full_name}.git"),
        "git_url": external_url(f"/{full_name}.git"),
        "collaborators_url": url + "/collaborators{/collaborator}",
        "branches_url": url + "/branches{/branch}",
        "hooks_url": url + "/hooks",
        "pulls_url": url + "/pulls{/number}",
        "default_branch": repo.default_branch,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.updated_at),
        "pushed_at": timestamp(repo.pushed_at),
        "archived": False,
        "disabled": False,
        "has_issues": False,
        "has_wiki": False,
        "has_pages": False,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "forks_count": 0,
        "open_issues_count": 0,
    }
    if role is not None:
        body["permissions"] = permissions(role)
    return body


def collaborator(user: User, role: str) -> dict:
    return simple_user(user) | {
        "permissions": permissions(role),
        "role_name": GITHUB_PERMISSION[role],
    }
