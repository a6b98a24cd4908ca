"""Who may do what to a repository: the one permission check, `can(user, action, repo)`.

A user's role comes from owning the repository, from a collaborator's role and, on an
organization's repository, from the organization: its owners are admins, its members hold its
base permission, and each team holds the role given to it; the highest of these counts."""

from __future__ import annotations

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session

from forge.errors import Forbidden, NotFound
from forge.models import (
    Collaborator,
    Organization,
    OrgMembership,
    Repository,
    TeamMember,
    TeamRepository,
    User,
)

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


def _higher(role: str | None, other: str | None) -> str | None:
    if other is None:
        return role
    if role is None:
        return other
    return max(role, other, key=ROLE_RANK.__getitem__)


def _organization_roles(session: Session, user_ids: set[int], repo: Repository) -> dict[int, str]:
    """The roles users hold on an organization's repository through the organization."""
    if not user_ids or not repo.owner.is_organization:
        return {}
    roles: dict[int, str] = {}
    members = session.execute(
        select(
            OrgMembership.user_id, OrgMembership.role, Organization.default_repository_permission
        )
        .join(Organization, Organization.id == OrgMembership.org_id)
        .where(OrgMembership.org_id == repo.owner_id, OrgMembership.user_id.in_(user_ids))
    )
    for user_id, membership, base in members:
        role = "admin" if membership == "admin" else base
        if role in ROLE_RANK:
            roles[user_id] = role
    teams = session.execute(
        select(TeamMember.user_id, TeamRepository.role)
        .join(TeamRepository, TeamRepository.team_id == TeamMember.team_id)
        .where(TeamRepository.repository_id == repo.id, TeamMember.user_id.in_(user_ids))
    )
    for user_id, role in teams:
        roles[user_id] = _higher(roles.get(user_id), role)
    return roles


def role_of(session: Session, user: User | None, repo: Repository) -> str | None:
    """The user's effective role on the repository, or None when they have no access."""
    granted = None
    if user is not None and user.is_active:
        granted = session.scalar(
            select(Collaborator.role).where(
                Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
            )
        )
        granted = _higher(granted, _organization_roles(session, {user.id}, repo).get(user.id))
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
    through_org = _organization_roles(session, ids, repo)
    return {
        user.id: _effective_role(
            user, repo, _higher(granted.get(user.id), through_org.get(user.id))
        )
        for user in users
    }


def granted_repository_ids(user: User, action: str = "read"):
    """The ids of the repositories a grant lets the user do `action` to (a collaborator's
    role, an organization's ownership or base permission, a team's role), as a subquery for
    listings; ownership, public visibility and site admins are the caller's to add."""
    enough = [role for role in ROLES if ROLE_RANK[role] >= ROLE_RANK[action]]
    collaborating = select(Collaborator.repository_id).where(
        Collaborator.user_id == user.id, Collaborator.role.in_(enough)
    )
    through_teams = (
        select(TeamRepository.repository_id)
        .join(TeamMember, TeamMember.team_id == TeamRepository.team_id)
        .where(TeamMember.user_id == user.id, TeamRepository.role.in_(enough))
    )
    through_membership = (
        select(Repository.id)
        .join(OrgMembership, OrgMembership.org_id == Repository.owner_id)
        .join(Organization, Organization.id == Repository.owner_id)
        .where(
            OrgMembership.user_id == user.id,
            or_(
                OrgMembership.role == "admin",
                Organization.default_repository_permission.in_(enough),
            ),
        )
    )
    return union(collaborating, through_teams, through_membership)


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


def granted_user_ids(session: Session, repo: Repository, action: str) -> set[int]:
    """Who holds `action` or more on the repository through a grant: its collaborators and,
    on an organization's repository, its owners, its members by the base permission and the
    members of its teams (the owner and site admins are the caller's to add)."""
    enough = [role for role in ROLES if ROLE_RANK[role] >= ROLE_RANK[action]]
    ids = set(
        session.scalars(
            select(Collaborator.user_id).where(
                Collaborator.repository_id == repo.id, Collaborator.role.in_(enough)
            )
        )
    )
    if repo.owner.is_organization:
        ids |= set(
            session.scalars(
                select(OrgMembership.user_id)
                .join(Organization, Organization.id == OrgMembership.org_id)
                .where(
                    OrgMembership.org_id == repo.owner_id,
                    or_(
                        OrgMembership.role == "admin",
                        Organization.default_repository_permission.in_(enough),
                    ),
                )
            )
        )
        ids |= set(
            session.scalars(
                select(TeamMember.user_id)
                .join(TeamRepository, TeamRepository.team_id == TeamMember.team_id)
                .where(TeamRepository.repository_id == repo.id, TeamRepository.role.in_(enough))
            )
        )
    return ids
