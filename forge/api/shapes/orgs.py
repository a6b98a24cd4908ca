"""Organizations, their memberships and teams as GitHub shows them.

A team's `url` is its place under its organization (/orgs/{org}/teams/{slug}), which GitHub
also serves: clients (PyGithub) call the team's memberships and repositories under it."""

from __future__ import annotations

from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.users import avatar_url, permissions, simple_user
from forge.models import Organization, OrgMembership, Team, TeamMember, User

# GitHub's older names of the roles, which a team's `permission` still uses.
LEGACY_PERMISSION = {"read": "pull", "write": "push"}


def organization_simple(org: User, settings: Organization) -> dict:
    url = api_url(f"/orgs/{org.name}")
    return {
        "login": org.name,
        "id": org.id,
        "node_id": f"O_{org.id}",
        "url": url,
        "repos_url": url + "/repos",
        "events_url": url + "/events",
        "hooks_url": url + "/hooks",
        "issues_url": url + "/issues",
        "members_url": url + "/members{/member}",
        "public_members_url": url + "/public_members{/member}",
        "avatar_url": avatar_url(org),
        "description": settings.description or None,
    }


def organization_full(
    org: User, settings: Organization, public_repos: int, owner_view: bool = False
) -> dict:
    # GitHub's schema has no null for name, company, blog, location or e-mail: what forge does
    # not know is left out, as GitHub leaves out what an organization did not fill in.
    body = organization_simple(org, settings) | {
        "twitter_username": None,
        "is_verified": False,
        "has_organization_projects": False,
        "has_repository_projects": False,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": external_url(f"/{org.name}"),
        "type": "Organization",
        "created_at": timestamp(org.created_at),
        "updated_at": timestamp(org.updated_at),
        "archived_at": None,
    }
    if org.full_name:
        body["name"] = org.full_name
    if owner_view:  # GitHub shows the organization's settings to its owners only
        body |= {
            "default_repository_permission": settings.default_repository_permission,
            "members_can_create_repositories": settings.members_can_create_repositories,
        }
    return body


def org_membership(org: User, settings: Organization, row: OrgMembership, can_create: bool) -> dict:
    return {
        "url": api_url(f"/orgs/{org.name}/memberships/{row.user.name}"),
        "state": "active",
        "role": row.role,
        "organization_url": api_url(f"/orgs/{org.name}"),
        "organization": organization_simple(org, settings),
        "user": simple_user(row.user),
        "permissions": {"can_create_repository": can_create},
    }


def team(item: Team, role: str | None = None) -> dict:
    """GitHub's team; `role`, in a repository's context, is the team's role on it."""
    org = item.org
    url = api_url(f"/orgs/{org.name}/teams/{item.slug}")
    body = {
        "id": item.id,
        "node_id": f"T_{item.id}",
        "url": url,
        "html_url": external_url(f"/orgs/{org.name}/teams/{item.slug}"),
        "name": item.name,
        "slug": item.slug,
        "description": item.description or None,
        "privacy": item.privacy,
        "notification_setting": "notifications_enabled",
        # GitHub's deprecated default permission of a team; forge gives each repository its own.
        "permission": LEGACY_PERMISSION.get(role, role) if role else "pull",
        "members_url": url + "/members{/member}",
        "repositories_url": url + "/repos",
        "parent": None,
        "type": "organization",
        "organization_id": org.id,
    }
    if role is not None:
        body["permissions"] = permissions(role)
    return body


def team_full(
    item: Team, settings: Organization, members_count: int, repos_count: int, public_repos: int
) -> dict:
    return team(item) | {
        "members_count": members_count,
        "repos_count": repos_count,
        "created_at": timestamp(item.created_at),
        "updated_at": timestamp(item.updated_at),
        "organization": organization_full(item.org, settings, public_repos),
    }


def team_membership(item: Team, row: TeamMember) -> dict:
    return {
        "url": api_url(f"/orgs/{item.org.name}/teams/{item.slug}/memberships/{row.user.name}"),
        "role": row.role,
        "state": "active",
    }
