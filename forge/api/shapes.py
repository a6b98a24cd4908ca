"""The one place that builds GitHub JSON shapes from forge's models."""

from __future__ import annotations

from forge.models import Repository, User
from forge.services.permissions import ROLE_RANK
from forge.web import external_url

# The permission names GitHub accepts when adding a collaborator -> forge's role.
FORGE_ROLE = {
    "pull": "read",
    "triage": "triage",
    "push": "write",
    "maintain": "maintain",
    "admin": "admin",
}
# forge role -> GitHub's legacy base permission (maintain counts as write, triage as read),
# what GET .../collaborators/{u}/permission answers in `permission`.
LEGACY_PERMISSION = {
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}


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
    return simple_user(user) | {"permissions": permissions(role), "role_name": role}


def collaborator_permission(user: User, role: str | None) -> dict:
    """GET /repos/{o}/{r}/collaborators/{u}/permission: the role, and GitHub's legacy name."""
    return {
        "permission": LEGACY_PERMISSION[role] if role else "none",
        "role_name": role or "none",
        "user": collaborator(user, role) if role else simple_user(user),
    }


def invitation(repo: Repository, role: str, invitee: User, inviter: User, viewer_role) -> dict:
    """The answer to adding a new collaborator (forge adds at once; GitHub invites)."""
    return {
        "id": invitee.id,
        "node_id": f"RI_{repo.id}_{invitee.id}",
        "repository": repository(repo, viewer_role),
        "invitee": simple_user(invitee),
        "inviter": simple_user(inviter),
        "permissions": role,
        "created_at": timestamp(repo.updated_at),
        "url": api_url(f"/repos/{repo.full_name}/collaborators/{invitee.name}"),
        "html_url": external_url(f"/{repo.full_name}/settings"),
        "expired": False,
    }


# --- branches, tags, refs, protection, statuses -------------------------------------------


def commit_ref(full_name: str, sha: str) -> dict:
    return {"sha": sha, "url": api_url(f"/repos/{full_name}/commits/{sha}")}


def branch(repo: Repository, item) -> dict:
    url = api_url(f"/repos/{repo.full_name}/branches/{item.name}")
    return {
        "name": item.name,
        "commit": commit_ref(repo.full_name, item.sha),
        "protected": item.protected,
        "protection_url": url + "/protection",
    }


def branch_detail(repo: Repository, item, rule) -> dict:
    body = branch(repo, item)
    body["_links"] = {
        "self": api_url(f"/repos/{repo.full_name}/branches/{item.name}"),
        "html": external_url(f"/{repo.full_name}/tree/{item.name}"),
    }
    if rule is not None:
        body["protection"] = protection(repo, rule)
    return body


def protection(repo: Repository, rule) -> dict:
    url = api_url(f"/repos/{repo.full_name}/branches/{rule.branch}/protection")
    body = {
        "url": url,
        "enabled": True,
        "allow_force_pushes": {"enabled": rule.allow_force_pushes},
        "allow_deletions": {"enabled": rule.allow_deletions},
        "enforce_admins": {"url": url + "/enforce_admins", "enabled": rule.enforce_admins},
        "required_linear_history": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
    }
    if rule.required_approving_review_count is not None:
        body["required_pull_request_reviews"] = {
            "url": url + "/required_pull_request_reviews",
            "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "required_approving_review_count": rule.required_approving_review_count,
        }
    if rule.required_status_checks is not None:
        contexts = rule.required_contexts
        body["required_status_checks"] = {
            "url": url + "/required_status_checks",
            "strict": bool(rule.required_status_checks.get("strict")),
            "contexts": contexts,
            "checks": [{"context": c, "app_id": None} for c in contexts],
            "contexts_url": url + "/required_status_checks/contexts",
        }
    return body


def tag(repo: Repository, item) -> dict:
    base = api_url(f"/repos/{repo.full_name}")
    return {
        "name": item.name,
        "commit": commit_ref(repo.full_name, item.commit),
        "zipball_url": f"{base}/zipball/{item.name}",
        "tarball_url": f"{base}/tarball/{item.name}",
        "node_id": f"T_{repo.id}_{item.name}",
    }


def git_ref(repo: Repository, name: str, sha: str, object_type: str) -> dict:
    return {
        "ref": name,
        "node_id": f"REF_{repo.id}_{name}",
        "url": api_url(f"/repos/{repo.full_name}/git/{name}"),
        "object": {
            "sha": sha,
            "type": object_type,
            "url": api_url(f"/repos/{repo.full_name}/git/{object_type}s/{sha}"),
        },
    }


def status(repo: Repository, row) -> dict:
    return {
        "id": row.id,
        "node_id": f"S_{row.id}",
        "url": api_url(f"/repos/{repo.full_name}/statuses/{row.sha}"),
        "state": row.state,
        "description": row.description or None,
        "target_url": row.target_url or None,
        "context": row.context,
        "avatar_url": "",
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.created_at),
        "creator": simple_user(row.creator) if row.creator else None,
    }


def combined_status(repo: Repository, sha: str, state: str, latest: list) -> dict:
    return {
        "state": state,
        "sha": sha,
        "total_count": len(latest),
        "statuses": [status(repo, row) for row in latest],
        "repository": repository(repo, None),
        "commit_url": api_url(f"/repos/{repo.full_name}/commits/{sha}"),
        "url": api_url(f"/repos/{repo.full_name}/commits/{sha}/status"),
    }
