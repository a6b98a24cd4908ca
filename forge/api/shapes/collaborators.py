"""A repository's collaborators: GitHub's permission names and forge's roles both ways, a
collaborator with their permissions, GET .../collaborators/{u}/permission, and the invitation
that answers adding one."""

from __future__ import annotations

from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.repos import repository
from forge.api.shapes.users import permissions, simple_user
from forge.models import Repository, User

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
