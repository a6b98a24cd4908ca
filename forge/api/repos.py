"""Repositories and collaborators: /user/repos, /users/{u}/repos, /repos/{o}/{r}[...]."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts.permissions import role_of
from forge.accounts.users import get_user
from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import collaborators as collaborator_shapes
from forge.api.shapes import repos as repo_shapes
from forge.errors import Invalid
from forge.git import fsck
from forge.repos import push_protection
from forge.repos import repositories as repo_service
from forge.web.context import db, settings


def _repo_json(repo):
    return repo_shapes.repository(repo, role_of(db(), repo_viewer(), repo))


def _listing(repos: list):
    items, headers = paginate(repos, _repo_json)
    return jsonify(items), 200, headers


@api.get("/user/repos")
def my_repositories():
    require_user()
    viewer = repo_viewer()
    repos = repo_service.repositories_of_member(db(), require_user())
    if viewer is None:
        repos = [r for r in repos if not r.is_private]
    visibility = request.args.get("visibility", "all")
    if visibility in ("public", "private"):
        repos = [r for r in repos if r.is_private == (visibility == "private")]
    return _listing(repos)


@api.post("/user/repos")
def create_repository():
    user = require_scope("repo")
    body = json_body()
    name = body_field(body, "name", str)
    if not name:
        raise Invalid("name is required", field="name")
    repo = repo_service.create_repository(
        db(),
        settings().repos_dir,
        user,
        name,
        description=body_field(body, "description", str, "") or "",
        private=bool(body_field(body, "private", bool, False)),
        default_branch=body_field(body, "default_branch", str, "main") or "main",
    )
    return jsonify(_repo_json(repo)), 201


@api.get("/users/<username>/repos")
def user_repositories(username: str):
    owner = get_user(db(), username)
    return _listing(repo_service.visible_repositories(db(), repo_viewer(), owner=owner))


def _repository(owner: str, name: str, action: str = "read"):
    return repo_service.get_repository(db(), owner, name, repo_viewer(), action)


@api.get("/repos/<owner>/<name>")
def get_repository(owner: str, name: str):
    return jsonify(_repo_json(_repository(owner, name)))


@api.patch("/repos/<owner>/<name>")
def update_repository(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    visibility = body_field(body, "visibility", str)
    private = body_field(body, "private", bool)
    protection = _push_protection_status(body_field(body, "security_and_analysis", dict))
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise Invalid("visibility must be public or private", field="visibility")
        private = visibility == "private"
    repo_service.update_repository(
        db(),
        settings().repos_dir,
        repo,
        user,
        name=body_field(body, "name", str),
        description=body_field(body, "description", str),
        private=private,
        default_branch=body_field(body, "default_branch", str),
        require_change_id=body_field(body, "require_change_id", bool),
    )
    if protection is not None:
        push_protection.set_enabled(db(), repo, user, protection == "enabled")
    return jsonify(_repo_json(repo))


def _push_protection_status(analysis: dict | None) -> str | None:
    """GitHub's security_and_analysis.secret_scanning_push_protection.status, checked before
    anything changes; the features forge does not have are ignored, as unknown fields are."""
    if analysis is None:
        return None
    setting = analysis.get("secret_scanning_push_protection")
    if setting is None:
        return None
    status = setting.get("status") if isinstance(setting, dict) else None
    if status not in ("enabled", "disabled"):
        raise Invalid(
            "security_and_analysis.secret_scanning_push_protection.status must be "
            "enabled or disabled",
            field="security_and_analysis",
        )
    return status


# --- object checks (git's receive.fsck.<msg-id>, forge's own endpoint) -----------------------


def _fsck_json(repo):
    policy = repo_service.fsck_policy(repo, settings().fsck)
    return {
        "severities": dict(policy.repository),
        "site": dict(policy.site),
        "effective": policy.effective(),
        "always_refused": sorted(fsck.ALWAYS_REFUSED),
    }


@api.get("/repos/<owner>/<name>/fsck")
def get_fsck_settings(owner: str, name: str):
    return jsonify(_fsck_json(_repository(owner, name, "admin")))


@api.put("/repos/<owner>/<name>/fsck")
def set_fsck_settings(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    severities = body_field(json_body(), "severities", dict, {})
    repo_service.set_fsck_overrides(db(), repo, user, severities)
    return jsonify(_fsck_json(repo))


@api.delete("/repos/<owner>/<name>")
def delete_repository(owner: str, name: str):
    user = require_scope("delete_repo")
    repo = _repository(owner, name)
    repo_service.delete_repository(db(), settings().repos_dir, repo, user, confirmation=None)
    return "", 204


# --- collaborators --------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/collaborators")
def list_collaborators(owner: str, name: str):
    repo = _repository(owner, name, "write")
    people = repo_service.people_with_access(db(), repo)
    items, headers = paginate(people, lambda pair: collaborator_shapes.collaborator(*pair))
    return jsonify(items), 200, headers


@api.get("/repos/<owner>/<name>/collaborators/<username>")
def check_collaborator(owner: str, name: str, username: str):
    repo = _repository(owner, name, "write")
    role = repo_service.get_collaborator_role(db(), repo, username)
    if role is None:
        raise ApiError(404, "Not Found")
    return "", 204


@api.get("/repos/<owner>/<name>/collaborators/<username>/permission")
def collaborator_permission(owner: str, name: str, username: str):
    repo = _repository(owner, name, "write")
    user = get_user(db(), username)
    return jsonify(collaborator_shapes.collaborator_permission(user, role_of(db(), user, repo)))


@api.put("/repos/<owner>/<name>/collaborators/<username>")
def add_collaborator(owner: str, name: str, username: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    permission = body_field(json_body(), "permission", str, "push")
    if permission not in collaborator_shapes.FORGE_ROLE:
        raise Invalid(
            f"permission must be one of {', '.join(collaborator_shapes.FORGE_ROLE)}",
            field="permission",
        )
    role = collaborator_shapes.FORGE_ROLE[permission]
    added = repo_service.set_collaborator(db(), repo, user, username, role)
    if not added:
        return "", 204
    invitee = get_user(db(), username)
    viewer_role = role_of(db(), repo_viewer(), repo)
    return jsonify(collaborator_shapes.invitation(repo, role, invitee, user, viewer_role)), 201


@api.delete("/repos/<owner>/<name>/collaborators/<username>")
def remove_collaborator(owner: str, name: str, username: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    repo_service.remove_collaborator(db(), repo, user, username)
    return "", 204
