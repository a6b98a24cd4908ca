"""Organizations and teams: /orgs/{org}[...], /teams/{id}, /user/orgs, /users/{u}/orgs, the
teams of a repository, and GitHub Enterprise Server's POST /admin/organizations (github.com
has no call that creates an organization; forge lets any signed-in person create one, as in
the browser, with themselves as its owner)."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts import orgs as org_service
from forge.accounts.permissions import role_of
from forge.accounts.users import find_user, get_user
from forge.api import api
from forge.api.auth import current_user, repo_viewer, require_scope, require_user
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import orgs as org_shapes
from forge.api.shapes import repos as repo_shapes
from forge.api.shapes.users import simple_user
from forge.errors import Invalid
from forge.repos import repositories as repo_service
from forge.web.context import db, settings

ORG_SCOPE = "admin:org"


def _org(name: str):
    return org_service.get_org(db(), name)


def _public_repo_count(org) -> int:
    return len(repo_service.visible_repositories(db(), None, owner=org))


def _org_full(org):
    found = org_service.org_settings(db(), org)
    owner_view = org_service.is_owner(db(), current_user(), org)
    return org_shapes.organization_full(org, found, _public_repo_count(org), owner_view)


def _simple_list(orgs: list):
    def shape(org):
        return org_shapes.organization_simple(org, org_service.org_settings(db(), org))

    items, headers = paginate(orgs, shape)
    return jsonify(items), 200, headers


def _repo_json(repo):
    return repo_shapes.repository(repo, role_of(db(), repo_viewer(), repo))


def _users(rows):
    items, headers = paginate([row.user for row in rows], simple_user)
    return jsonify(items), 200, headers


# --- organizations --------------------------------------------------------------------------


@api.post("/admin/organizations")
def create_organization():
    user = require_scope(ORG_SCOPE)
    body = json_body()
    login = body_field(body, "login", str)
    if not login:
        raise Invalid("login is required", field="login")
    owner = user
    admin = body_field(body, "admin", str)
    if admin and admin.lower() != user.lower_name:
        if not user.is_admin:
            raise ApiError(403, "only site administrators may create an organization for others")
        owner = find_user(db(), admin)
        if owner is None or owner.is_organization:
            raise Invalid(f"no user named {admin!r} to own the organization", field="admin")
    org = org_service.create_org(
        db(), owner, login, display_name=body_field(body, "profile_name", str, "") or ""
    )
    found = org_service.org_settings(db(), org)
    return jsonify(org_shapes.organization_simple(org, found)), 201


@api.get("/orgs/<org>")
def get_organization(org: str):
    return jsonify(_org_full(_org(org)))


@api.patch("/orgs/<org>")
def update_organization(org: str):
    user = require_scope(ORG_SCOPE)
    account = _org(org)
    body = json_body()
    org_service.update_org(
        db(),
        user,
        account,
        display_name=body_field(body, "name", str),
        description=body_field(body, "description", str),
        default_repository_permission=body_field(body, "default_repository_permission", str),
        members_can_create_repositories=body_field(body, "members_can_create_repositories", bool),
    )
    return jsonify(_org_full(account))


@api.get("/user/orgs")
def my_organizations():
    return _simple_list(org_service.orgs_of(db(), require_user()))


@api.get("/users/<username>/orgs")
def user_organizations(username: str):
    return _simple_list(org_service.orgs_of(db(), get_user(db(), username)))


@api.get("/orgs/<org>/repos")
def organization_repositories(org: str):
    account = _org(org)
    repos = repo_service.visible_repositories(db(), repo_viewer(), owner=account)
    kind = request.args.get("type", "all")
    if kind in ("public", "private"):
        repos = [repo for repo in repos if repo.is_private == (kind == "private")]
    items, headers = paginate(repos, _repo_json)
    return jsonify(items), 200, headers


@api.post("/orgs/<org>/repos")
def create_organization_repository(org: str):
    user = require_scope("repo")
    account = _org(org)
    org_service.require_repository_creation(db(), user, account)
    body = json_body()
    name = body_field(body, "name", str)
    if not name:
        raise Invalid("name is required", field="name")
    visibility = body_field(body, "visibility", str)
    private = bool(body_field(body, "private", bool, False))
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise Invalid("visibility must be public or private", field="visibility")
        private = visibility == "private"
    repo = repo_service.create_repository(
        db(),
        settings().repos_dir,
        account,
        name,
        description=body_field(body, "description", str, "") or "",
        private=private,
        default_branch=body_field(body, "default_branch", str, "main") or "main",
    )
    team_id = body_field(body, "team_id", int)
    if team_id is not None:
        team = org_service.get_team_by_id(db(), team_id, user)
        org_service.set_team_repository(db(), user, team, repo, "pull")
    return jsonify(_repo_json(repo)), 201


# --- members --------------------------------------------------------------------------------


def _require_member(org) -> None:
    if not org_service.is_member(db(), current_user(), org):
        raise ApiError(404, "Not Found")


@api.get("/orgs/<org>/members")
def organization_members(org: str):
    account = _org(org)
    role = request.args.get("role", "all")
    if role not in ("all", "admin", "member"):
        raise Invalid("role must be all, admin or member", field="role")
    if not org_service.is_member(db(), current_user(), account):
        # Outsiders see public members on GitHub; a membership is private there unless its
        # member publishes it, which forge has no way to do: none to show.
        return _users([])
    return _users(org_service.members(db(), account, None if role == "all" else role))


@api.get("/orgs/<org>/members/<username>")
def check_organization_member(org: str, username: str):
    account = _org(org)
    _require_member(account)
    if org_service.membership(db(), account, get_user(db(), username)) is None:
        raise ApiError(404, "Not Found")
    return "", 204


@api.delete("/orgs/<org>/members/<username>")
def remove_organization_member(org: str, username: str):
    user = require_scope(ORG_SCOPE)
    org_service.remove_member(db(), user, _org(org), username)
    return "", 204


def _membership_json(account, row):
    return org_shapes.org_membership(
        account,
        org_service.org_settings(db(), account),
        row,
        org_service.may_create_repository(db(), row.user, account),
    )


@api.get("/orgs/<org>/memberships/<username>")
def get_organization_membership(org: str, username: str):
    account = _org(org)
    _require_member(account)
    row = org_service.membership(db(), account, get_user(db(), username))
    if row is None:
        raise ApiError(404, "Not Found")
    return jsonify(_membership_json(account, row))


@api.put("/orgs/<org>/memberships/<username>")
def set_organization_membership(org: str, username: str):
    user = require_scope(ORG_SCOPE)
    account = _org(org)
    role = body_field(json_body(), "role", str, "member")
    row, _created = org_service.set_membership(db(), user, account, username, role)
    return jsonify(_membership_json(account, row))


@api.delete("/orgs/<org>/memberships/<username>")
def remove_organization_membership(org: str, username: str):
    user = require_scope(ORG_SCOPE)
    org_service.remove_member(db(), user, _org(org), username)
    return "", 204


# --- teams ----------------------------------------------------------------------------------


def _team_full(team):
    counts = org_service.team_member_counts(db(), [team])
    repos = org_service.team_repositories(db(), team, repo_viewer())
    found = org_service.org_settings(db(), team.org)
    return org_shapes.team_full(
        team, found, counts[team.id], len(repos), _public_repo_count(team.org)
    )


def _team(org: str, slug: str):
    return org_service.get_team(db(), _org(org), slug, current_user())


@api.get("/orgs/<org>/teams")
def organization_teams(org: str):
    teams = org_service.teams(db(), _org(org), current_user())
    items, headers = paginate(teams, org_shapes.team)
    return jsonify(items), 200, headers


@api.post("/orgs/<org>/teams")
def create_team(org: str):
    user = require_scope(ORG_SCOPE)
    body = json_body()
    repo_names = body_field(body, "repo_names", list, []) or []
    maintainers = body_field(body, "maintainers", list, []) or []
    if not all(isinstance(item, str) for item in repo_names + maintainers):
        raise Invalid("repo_names and maintainers are lists of names", field="repo_names")
    team = org_service.create_team(
        db(),
        user,
        _org(org),
        body_field(body, "name", str, "") or "",
        description=body_field(body, "description", str, "") or "",
        privacy=body_field(body, "privacy", str, "secret") or "secret",
        permission=body_field(body, "permission", str, "pull") or "pull",
        repo_names=repo_names,
        maintainers=maintainers,
    )
    return jsonify(_team_full(team)), 201


@api.get("/orgs/<org>/teams/<slug>")
def get_team(org: str, slug: str):
    return jsonify(_team_full(_team(org, slug)))


@api.get("/teams/<int:team_id>")
def get_team_by_id(team_id: int):
    return jsonify(_team_full(org_service.get_team_by_id(db(), team_id, current_user())))


@api.patch("/orgs/<org>/teams/<slug>")
def update_team(org: str, slug: str):
    user = require_scope(ORG_SCOPE)
    team = _team(org, slug)
    body = json_body()
    org_service.update_team(
        db(),
        user,
        team,
        name=body_field(body, "name", str),
        description=body_field(body, "description", str),
        privacy=body_field(body, "privacy", str),
    )
    return jsonify(_team_full(team))


@api.delete("/orgs/<org>/teams/<slug>")
def delete_team(org: str, slug: str):
    user = require_scope(ORG_SCOPE)
    org_service.delete_team(db(), user, _team(org, slug))
    return "", 204


@api.get("/orgs/<org>/teams/<slug>/members")
def team_members(org: str, slug: str):
    role = request.args.get("role", "all")
    if role not in ("all", "member", "maintainer"):
        raise Invalid("role must be all, member or maintainer", field="role")
    team = _team(org, slug)
    return _users(org_service.team_members(db(), team, None if role == "all" else role))


@api.get("/orgs/<org>/teams/<slug>/memberships/<username>")
def get_team_membership(org: str, slug: str, username: str):
    team = _team(org, slug)
    return jsonify(
        org_shapes.team_membership(team, org_service.team_membership(db(), team, username))
    )


@api.put("/orgs/<org>/teams/<slug>/memberships/<username>")
def set_team_membership(org: str, slug: str, username: str):
    user = require_scope(ORG_SCOPE)
    team = _team(org, slug)
    role = body_field(json_body(), "role", str, "member") or "member"
    row = org_service.set_team_membership(db(), user, team, username, role)
    return jsonify(org_shapes.team_membership(team, row))


@api.delete("/orgs/<org>/teams/<slug>/memberships/<username>")
def remove_team_membership(org: str, slug: str, username: str):
    user = require_scope(ORG_SCOPE)
    org_service.remove_team_membership(db(), user, _team(org, slug), username)
    return "", 204


@api.get("/orgs/<org>/teams/<slug>/repos")
def team_repositories(org: str, slug: str):
    team = _team(org, slug)
    rows = org_service.team_repositories(db(), team, repo_viewer())
    items, headers = paginate(
        rows,
        lambda row: (
            repo_shapes.repository(row.repository, row.role, family=False) | {"role_name": row.role}
        ),
    )
    return jsonify(items), 200, headers


def _team_repository(org: str, slug: str, owner: str, name: str, action: str = "read"):
    team = _team(org, slug)
    repo = repo_service.get_repository(db(), owner, name, repo_viewer(), action)
    return team, repo


@api.get("/orgs/<org>/teams/<slug>/repos/<owner>/<name>")
def check_team_repository(org: str, slug: str, owner: str, name: str):
    team, repo = _team_repository(org, slug, owner, name)
    role = org_service.team_role_on(db(), team, repo)
    if role is None:
        raise ApiError(404, "Not Found")
    if "application/vnd.github.v3.repository+json" not in request.headers.get("Accept", ""):
        return "", 204
    body = repo_shapes.repository(repo, role, family=False) | {"role_name": role}
    return jsonify(body)


@api.put("/orgs/<org>/teams/<slug>/repos/<owner>/<name>")
def set_team_repository(org: str, slug: str, owner: str, name: str):
    user = require_scope(ORG_SCOPE)
    team, repo = _team_repository(org, slug, owner, name)
    permission = body_field(json_body(), "permission", str)
    org_service.set_team_repository(db(), user, team, repo, permission)
    return "", 204


@api.delete("/orgs/<org>/teams/<slug>/repos/<owner>/<name>")
def remove_team_repository(org: str, slug: str, owner: str, name: str):
    user = require_scope(ORG_SCOPE)
    team, repo = _team_repository(org, slug, owner, name)
    org_service.remove_team_repository(db(), user, team, repo)
    return "", 204


@api.get("/repos/<owner>/<name>/teams")
def repository_teams(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, repo_viewer(), "admin")
    rows = org_service.teams_on_repository(db(), repo)
    items, headers = paginate(rows, lambda row: org_shapes.team(row.team, row.role))
    return jsonify(items), 200, headers
