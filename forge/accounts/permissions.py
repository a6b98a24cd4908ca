"""Who may do what to a repository: the one permission check, `can(user, action, repo)`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.errors import Forbidden, NotFound
from forge.models import Collaborator, Repository, User

# Roles in increasing power; each includes what the ones before it may do.
ROLES = ("read", "triage", "write", "maintain", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def _effective_role(user: User | None, repo: Repository, granted: str | None) -> str | None:
    """The rule itself, from the collaborator role `granted` to the user (None: none)."""
    if user is not None and not user.is_active:
        user, granted = None, None  # a suspended account is nobody, whatever its rights
    if user is not None and (user.is_admin or user.id == repo.owner_id):
        return "admin"
    if granted is None and not repo.is_private:
        return "read"
    return granted


def role_of(session: Session, user: User | None, repo: Repository) -> str | None:
    """The user's effective role on the repository, or None when they have no access."""
    granted = None
    if user is not None and user.is_active:
        granted = session.scalar(
            select(Collaborator.role).where(
                Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
            )
        )
    return _effective_role(user, repo, granted)


def roles_of(session: Session, users: list[User], repo: Repository) -> dict[int, str | None]:
    """`role_of` for several users at once, in one query whatever their number."""
    ids = {user.id for user in users}
    granted = {}
    if ids:
        granted = dict(
            session.execute(
                select(Collaborator.user_id, Collaborator.role).where(
                    Collaborator.repository_id == repo.id, Collaborator.user_id.in_(ids)
                )
            ).all()
        )
    return {user.id: _effective_role(user, repo, granted.get(user.id)) for user in users}


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
