"""Who may do what to a repository: the one permission check, `can(user, action, repo)`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.models import Collaborator, Repository, User
from forge.services.errors import Forbidden, NotFound

# Roles in increasing power; each includes what the ones before it may do.
ROLES = ("read", "triage", "write", "maintain", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def role_of(session: Session, user: User | None, repo: Repository) -> str | None:
    """The user's effective role on the repository, or None when they have no access."""
    if user is not None and not user.is_active:
        user = None
    if user is not None and (user.is_admin or user.id == repo.owner_id):
        return "admin"
    role = None
    if user is not None:
        role = session.scalar(
            select(Collaborator.role).where(
                Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
            )
        )
    if role is None and not repo.is_private:
        role = "read"
    return role


def can(session: Session, user: User | None, action: str, repo: Repository) -> bool:
    """May the user act on the repository? `action` is the role the act needs."""
    role = role_of(session, user, repo)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[action]


def require(session: Session, user: User | None, action: str, repo: Repository) -> str:
    """Raise unless the user may act; a repository the user cannot read stays invisible."""
    role = role_of(session, user, repo)
    if role is None:
        raise NotFound(f"repository {repo.full_name} not found")
    if ROLE_RANK[role] < ROLE_RANK[action]:
        raise Forbidden(f"you need the {action} role on {repo.full_name} to do this")
    return role
