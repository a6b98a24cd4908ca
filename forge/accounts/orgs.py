"""Organizations and their teams: create an organization, manage its members and their roles
(member, owner), its teams, their members and the role each team holds on the
organization's repositories.

Access itself is decided in forge.accounts.permissions, which reads the rows written here;
nothing else needs to know that a repository's owner is an organization.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.names import check_user_name
from forge.accounts.permissions import ROLES, can, require
from forge.accounts.users import find_user
from forge.db import utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.models import (
    Organization,
    OrgMembership,
    Repository,
    Team,
    TeamMember,
    TeamRepository,
    User,
)

# GitHub's names: "admin" is an owner of the organization.
MEMBERSHIP_ROLES = ("member", "admin")
TEAM_ROLES = ("member", "maintainer")
TEAM_PRIVACIES = ("closed", "secret")
BASE_PERMISSIONS = ("none", *ROLES)
# The API's older names of the roles (`pull`, `push`), as GitHub accepts them.
PERMISSION_NAMES = {"pull": "read", "push": "write"} | {role: role for role in ROLES}
MAX_TEAM_NAME = 100
MAX_DESCRIPTION = 350


# --- organizations --------------------------------------------------------------------------


def find_org(session: Session, name: str) -> User | None:
    user = find_user(session, name)
    return user if user is not None and user.is_organization else None


def get_org(session: Session, name: str) -> User:
    org = find_org(session, name)
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return org


def org_settings(session: Session, org: User) -> Organization:
    return session.get(Organization, org.id)


def _description(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise Invalid(f"the description is longer than {MAX_DESCRIPTION} characters", "description")
    return text


def create_org(
    session: Session, creator: User, name: str, display_name: str = "", description: str = ""
) -> User:
    """A new organization, `creator` its first owner. Its account has no usable password
    (argon2 refuses "!" as a hash), so nobody signs in as it."""
    if not creator.is_active or creator.is_organization:
        raise Forbidden("only a signed-in person may create an organization")
    check_user_name(name)
    description = _description(description)
    display_name = (display_name or "").strip()
    if len(display_name) > 100:
        raise Invalid("the display name is longer than 100 characters", field="display_name")
    if find_user(session, name) is not None:
        raise Invalid(f"the name {name!r} is already taken", field="login")
    org = User(
        name=name,
        lower_name=name.lower(),
        email="",
        full_name=display_name,
        password_hash="!",
        is_organization=True,
    )
    session.add(org)
    session.flush()
    session.add(Organization(id=org.id, description=description))
    session.add(OrgMembership(org_id=org.id, user_id=creator.id, role="admin"))
    session.flush()
    return org


def membership(session: Session, org: User, user: User | None) -> OrgMembership | None:
    if user is None or not user.is_active:
        return None
    return session.scalar(
        select(OrgMembership).where(
            OrgMembership.org_id == org.id, OrgMembership.user_id == user.id
        )
    )


def is_owner(session: Session, user: User | None, org: User) -> bool:
    if user is not None and user.is_active and user.is_admin:
        return True
    found = membership(session, org, user)
    return found is not None and found.role == "admin"


def is_member(session: Session, user: User | None, org: User) -> bool:
    return is_owner(session, user, org) or membership(session, org, user) is not None


def require_owner(session: Session, user: User | None, org: User) -> None:
    if not is_owner(session, user, org):
        raise Forbidden(f"only owners of {org.name} may do this")


def update_org(
    session: Session,
    actor: User,
    org: User,
    *,
    display_name: str | None = None,
    description: str | None = None,
    default_repository_permission: str | None = None,
    members_can_create_repositories: bool | None = None,
) -> Organization:
    require_owner(session, actor, org)
    found = org_settings(session, org)
    if description is not None:
        description = _description(description)
    if default_repository_permission is not None:
        default_repository_permission = PERMISSION_NAMES.get(
            default_repository_permission, default_repository_permission
        )
        if default_repository_permission not in BASE_PERMISSIONS:
            raise Invalid(
                f"the base permission is one of {', '.join(BASE_PERMISSIONS)}",
                field="default_repository_permission",
            )
    if display_name is not None:
        if len(display_name.strip()) > 100:
            raise Invalid("the display name is longer than 100 characters", field="name")
        org.full_name = display_name.strip()
    if description is not None:
        found.description = description
    if default_repository_permission is not None:
        found.default_repository_permission = default_repository_permission
    if members_can_create_repositories is not None:
        found.members_can_create_repositories = bool(members_can_create_repositories)
    org.updated_at = utcnow()
    session.flush()
    return found


def may_create_repository(session: Session, user: User | None, org: User) -> bool:
    """Owners may; members too unless the organization says otherwise (GitHub's default)."""
    if is_owner(session, user, org):
        return True
    return (
        membership(session, org, user) is not None
        and org_settings(session, org).members_can_create_repositories
    )


def require_repository_creation(session: Session, user: User | None, org: User) -> None:
    if not may_create_repository(session, user, org):
        raise Forbidden(f"you may not create repositories in {org.name}")


def repository_owners(session: Session, user: User) -> list[User]:
    """Whom the user may create repositories for: themselves, then the organizations that
    let them."""
    orgs = [org for org in orgs_of(session, user) if may_create_repository(session, user, org)]
    return [user, *orgs]


def members(session: Session, org: User, role: str | None = None) -> list[OrgMembership]:
    query = select(OrgMembership).where(OrgMembership.org_id == org.id)
    if role is not None:
        query = query.where(OrgMembership.role == role)
    rows = session.scalars(query.order_by(OrgMembership.id))
    return [row for row in rows if row.user.is_active]


def orgs_of(session: Session, user: User) -> list[User]:
    """The organizations the user belongs to, by name."""
    query = (
        select(User)
        .join(OrgMembership, OrgMembership.org_id == User.id)
        .where(OrgMembership.user_id == user.id)
        .order_by(User.lower_name)
    )
    return list(session.scalars(query))


def _person(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None or user.is_organization:
        raise NotFound(f"no user named {name!r}")
    return user


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise Invalid(f"{field} must be one of {', '.join(choices)}", field=field)
    return value


def _owner_count(session: Session, org: User) -> int:
    return len(members(session, org, role="admin"))


def set_membership(
    session: Session, actor: User, org: User, user_name: str, role: str = "member"
) -> tuple[OrgMembership, bool]:
    """Make the user a member (or owner, "admin") of the organization; True when they were
    not a member before. forge has no invitations: the membership is active at once."""
    require_owner(session, actor, org)
    _check_choice(role, MEMBERSHIP_ROLES, "role")
    user = _person(session, user_name)
    found = membership(session, org, user)
    if found is None:
        found = OrgMembership(org_id=org.id, user_id=user.id, role=role)
        session.add(found)
        session.flush()
        return found, True
    if found.role == "admin" and role != "admin" and _owner_count(session, org) <= 1:
        raise Invalid(f"{user.name} is the last owner of {org.name}", field="role")
    found.role = role
    session.flush()
    return found, False


def remove_member(session: Session, actor: User, org: User, user_name: str) -> None:
    """Take the user out of the organization and all its teams (a member may leave)."""
    user = _person(session, user_name)
    if actor.id != user.id:
        require_owner(session, actor, org)
    found = membership(session, org, user)
    if found is None:
        raise NotFound(f"{user.name} is not a member of {org.name}")
    if found.role == "admin" and _owner_count(session, org) <= 1:
        raise Invalid(f"{user.name} is the last owner of {org.name}", field="username")
    team_ids = select(Team.id).where(Team.org_id == org.id)
    for row in session.scalars(
        select(TeamMember).where(TeamMember.user_id == user.id, TeamMember.team_id.in_(team_ids))
    ):
        session.delete(row)
    session.delete(found)
    session.flush()


# --- teams ----------------------------------------------------------------------------------


def slug_of(name: str) -> str:
    """GitHub's slug: lower case, runs of anything else than letters and digits as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _team_role_on(session: Session, team: Team, user: User | None) -> str | None:
    if user is None:
        return None
    return session.scalar(
        select(TeamMember.role).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )


def may_see_team(session: Session, user: User | None, team: Team) -> bool:
    """Closed teams show to the organization's members, secret ones to theirs and owners."""
    if team.privacy == "secret":
        return is_owner(session, user, team.org) or _team_role_on(session, team, user) is not None
    return is_member(session, user, team.org)


def may_manage_team(session: Session, user: User | None, team: Team) -> bool:
    return is_owner(session, user, team.org) or _team_role_on(session, team, user) == "maintainer"


def _require_manager(session: Session, user: User | None, team: Team) -> None:
    if not may_manage_team(session, user, team):
        raise Forbidden(f"only owners of {team.org.name} and maintainers of {team.name} may")


def teams(session: Session, org: User, viewer: User | None) -> list[Team]:
    """The organization's teams the viewer may see; Forbidden to those outside it."""
    if not is_member(session, viewer, org):
        raise Forbidden(f"only members of {org.name} may list its teams")
    rows = session.scalars(select(Team).where(Team.org_id == org.id).order_by(Team.name))
    return [team for team in rows if may_see_team(session, viewer, team)]


def get_team(session: Session, org: User, slug: str, viewer: User | None) -> Team:
    team = session.scalar(select(Team).where(Team.org_id == org.id, Team.slug == slug))
    if team is None or not may_see_team(session, viewer, team):
        raise NotFound(f"no team {slug!r} in {org.name}")
    return team


def get_team_by_id(session: Session, team_id: int, viewer: User | None) -> Team:
    team = session.get(Team, team_id)
    if team is None or not may_see_team(session, viewer, team):
        raise NotFound(f"no team with id {team_id}")
    return team


def _team_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_TEAM_NAME or not slug_of(name):
        raise Invalid(
            f"a team name needs a letter or digit and at most {MAX_TEAM_NAME} characters", "name"
        )
    return name


def _permission(value: str | None, field: str = "permission") -> str:
    role = PERMISSION_NAMES.get(value or "")
    if role is None:
        raise Invalid(f"{field} must be one of pull, triage, push, maintain, admin", field=field)
    return role


def create_team(
    session: Session,
    actor: User,
    org: User,
    name: str,
    *,
    description: str = "",
    privacy: str = "secret",
    permission: str = "pull",
    repo_names: list[str] = (),
    maintainers: list[str] = (),
) -> Team:
    """A new team; its creator becomes a maintainer (unless an owner), as on GitHub, and the
    repositories named `OWNER/NAME` get the team's `permission`."""
    require_owner(session, actor, org)
    name = _team_name(name)
    description = _description(description)
    _check_choice(privacy, TEAM_PRIVACIES, "privacy")
    role = _permission(permission)
    slug = slug_of(name)
    if session.scalar(select(Team.id).where(Team.org_id == org.id, Team.slug == slug)):
        raise Invalid(f"{org.name} already has a team named {name!r}", field="name")
    repos = [_org_repository(session, org, full_name) for full_name in repo_names]
    people = [_person(session, login) for login in maintainers]
    team = Team(org_id=org.id, name=name, slug=slug, description=description, privacy=privacy)
    session.add(team)
    session.flush()
    for person in people:
        _join(session, team, person, "maintainer")
    if not any(person.id == actor.id for person in people) and not actor.is_admin:
        _join(session, team, actor, "maintainer")
    for repo in repos:
        session.add(TeamRepository(team_id=team.id, repository_id=repo.id, role=role))
    session.flush()
    return team


def update_team(
    session: Session,
    actor: User,
    team: Team,
    *,
    name: str | None = None,
    description: str | None = None,
    privacy: str | None = None,
) -> Team:
    _require_manager(session, actor, team)
    if name is not None:
        name = _team_name(name)
        slug = slug_of(name)
        clash = session.scalar(select(Team).where(Team.org_id == team.org_id, Team.slug == slug))
        if clash is not None and clash.id != team.id:
            raise Invalid(f"{team.org.name} already has a team named {name!r}", field="name")
        team.name, team.slug = name, slug
    if description is not None:
        team.description = _description(description)
    if privacy is not None:
        team.privacy = _check_choice(privacy, TEAM_PRIVACIES, "privacy")
    team.updated_at = utcnow()
    session.flush()
    return team


def delete_team(session: Session, actor: User, team: Team) -> None:
    _require_manager(session, actor, team)
    session.delete(team)
    session.flush()


def team_members(session: Session, team: Team, role: str | None = None) -> list[TeamMember]:
    query = select(TeamMember).where(TeamMember.team_id == team.id)
    if role is not None:
        query = query.where(TeamMember.role == role)
    return [row for row in session.scalars(query.order_by(TeamMember.id)) if row.user.is_active]


def team_member_counts(session: Session, team_list: list[Team]) -> dict[int, int]:
    counts = {team.id: 0 for team in team_list}
    if counts:
        for team_id in session.scalars(
            select(TeamMember.team_id).where(TeamMember.team_id.in_(counts))
        ):
            counts[team_id] += 1
    return counts


def _join(session: Session, team: Team, user: User, role: str) -> TeamMember:
    # A team holds members of its organization only; forge has no invitations, so whoever a
    # manager adds becomes a member of the organization too.
    if membership(session, team.org, user) is None:
        session.add(OrgMembership(org_id=team.org_id, user_id=user.id, role="member"))
    row = session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if row is None:
        row = TeamMember(team_id=team.id, user_id=user.id, role=role)
        session.add(row)
    else:
        row.role = role
    session.flush()
    return row


def set_team_membership(
    session: Session, actor: User, team: Team, user_name: str, role: str = "member"
) -> TeamMember:
    _require_manager(session, actor, team)
    _check_choice(role, TEAM_ROLES, "role")
    user = _person(session, user_name)
    if membership(session, team.org, user) is None and not is_owner(session, actor, team.org):
        # Joining the team makes them a member of the organization: an owner's decision.
        raise Forbidden(f"only owners of {team.org.name} may add people from outside it")
    return _join(session, team, user, role)


def team_membership(session: Session, team: Team, user_name: str) -> TeamMember:
    user = _person(session, user_name)
    row = session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if row is None:
        raise NotFound(f"{user.name} is not a member of {team.name}")
    return row


def remove_team_membership(session: Session, actor: User, team: Team, user_name: str) -> None:
    row = team_membership(session, team, user_name)
    if row.user_id != actor.id:
        _require_manager(session, actor, team)
    session.delete(row)
    session.flush()


def _org_repository(session: Session, org: User, full_name: str) -> Repository:
    owner, _, name = (full_name or "").partition("/")
    if not name:
        owner, name = org.name, owner
    repo = session.scalar(
        select(Repository).where(
            Repository.owner_id == org.id, Repository.lower_name == name.lower()
        )
    )
    if repo is None or owner.lower() != org.lower_name:
        raise Invalid(f"{org.name} has no repository {full_name!r}", field="repo_names")
    return repo


def team_repositories(session: Session, team: Team, viewer: User | None) -> list[TeamRepository]:
    rows = session.scalars(
        select(TeamRepository).where(TeamRepository.team_id == team.id).order_by(TeamRepository.id)
    )
    return [row for row in rows if can(session, viewer, "read", row.repository)]


def team_role_on(session: Session, team: Team, repo: Repository) -> str | None:
    return session.scalar(
        select(TeamRepository.role).where(
            TeamRepository.team_id == team.id, TeamRepository.repository_id == repo.id
        )
    )


def set_team_repository(
    session: Session, actor: User, team: Team, repo: Repository, permission: str | None = None
) -> TeamRepository:
    """Give the team a role on one of its organization's repositories (GitHub's `push` by
    default); the actor needs admin on the repository, as on GitHub."""
    require(session, actor, "admin", repo)
    role = _permission(permission or "push")
    if repo.owner_id != team.org_id:
        raise Invalid(f"{repo.full_name} does not belong to {team.org.name}", field="repo")
    row = session.scalar(
        select(TeamRepository).where(
            TeamRepository.team_id == team.id, TeamRepository.repository_id == repo.id
        )
    )
    if row is None:
        row = TeamRepository(team_id=team.id, repository_id=repo.id, role=role)
        session.add(row)
    else:
        row.role = role
    session.flush()
    return row


def remove_team_repository(session: Session, actor: User, team: Team, repo: Repository) -> None:
    require(session, actor, "admin", repo)
    row = session.scalar(
        select(TeamRepository).where(
            TeamRepository.team_id == team.id, TeamRepository.repository_id == repo.id
        )
    )
    if row is None:
        raise NotFound(f"{team.name} has no role on {repo.full_name}")
    session.delete(row)
    session.flush()


def teams_on_repository(session: Session, repo: Repository) -> list[TeamRepository]:
    return list(
        session.scalars(
            select(TeamRepository)
            .where(TeamRepository.repository_id == repo.id)
            .order_by(TeamRepository.id)
        )
    )
