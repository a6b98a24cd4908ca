"""Branches, tags, refs and branch protection: /repos/{o}/{r}/branches, /tags, /git/refs."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.pulls import commit_json
from forge.api.shapes import repos as repo_shapes
from forge.errors import Invalid, NotFound
from forge.repos import branches as branch_service
from forge.repos import contents as content_service
from forge.repos import refs as ref_service
from forge.repos.repositories import get_repository
from forge.web import external_url
from forge.web.context import db, redis_connection, settings


def _repository(owner: str, name: str, action: str = "read"):
    return get_repository(db(), owner, name, repo_viewer(), action)


@api.get("/repos/<owner>/<name>/branches")
def list_branches(owner: str, name: str):
    repo = _repository(owner, name)
    items = branch_service.list_branches(db(), settings().repos_dir, repo)
    body, headers = paginate(items, lambda b: repo_shapes.branch(repo, b))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/branches/<path:branch>")
def get_branch(owner: str, name: str, branch: str):
    repo = _repository(owner, name)
    item = branch_service.get_branch(db(), settings().repos_dir, repo, branch)
    try:
        rule = branch_service.get_protection(db(), repo, branch)
    except NotFound:
        rule = None
    # GitHub's branch carries its full commit (as GET .../commits/{sha}, without the files).
    info = content_service.commit_detail(settings().repos_dir, repo, item.sha).commit
    return jsonify(repo_shapes.branch_detail(repo, item, rule, commit_json(repo, [info])[0]))


@api.get("/repos/<owner>/<name>/branches/<path:branch>/protection")
def get_protection(owner: str, name: str, branch: str):
    repo = _repository(owner, name, "admin")
    return jsonify(repo_shapes.protection(repo, branch_service.get_protection(db(), repo, branch)))


def _enabled(body: dict, key: str) -> bool:
    value = body.get(key)
    if isinstance(value, dict):  # GitHub answers {"enabled": x}; accept it back
        value = value.get("enabled")
    if value is not None and not isinstance(value, bool):
        raise Invalid(f"{key} must be true, false or null", field=key)
    return bool(value)


@api.put("/repos/<owner>/<name>/branches/<path:branch>/protection")
def set_protection(owner: str, name: str, branch: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    for required in ("required_status_checks", "enforce_admins", "required_pull_request_reviews"):
        if required not in body:
            # GitHub insists on these keys (null allowed), so clients always send them.
            raise Invalid(f"{required} is required (it may be null)", field=required)
    reviews = body_field(body, "required_pull_request_reviews", dict)
    checks = body_field(body, "required_status_checks", dict)
    review_count = None
    if reviews is not None:
        review_count = reviews.get("required_approving_review_count", 1)
        if not isinstance(review_count, int) or isinstance(review_count, bool):
            raise Invalid("required_approving_review_count must be a number", "reviews")
        if not 0 <= review_count <= 6:  # GitHub's bounds
            raise Invalid("required_approving_review_count must be from 0 to 6", "reviews")
    if checks is not None:
        contexts = checks.get("contexts")
        if contexts is None and isinstance(checks.get("checks"), list):
            contexts = [c.get("context") for c in checks["checks"] if isinstance(c, dict)]
        if not isinstance(contexts or [], list):
            raise Invalid("contexts must be a list", field="contexts")
        checks = {"strict": bool(checks.get("strict")), "contexts": contexts or []}
    rule = branch_service.set_protection(
        db(),
        repo,
        user,
        branch,
        allow_force_pushes=_enabled(body, "allow_force_pushes"),
        allow_deletions=_enabled(body, "allow_deletions"),
        enforce_admins=_enabled(body, "enforce_admins"),
        required_approving_review_count=review_count,
        required_status_checks=checks,
    )
    return jsonify(repo_shapes.protection(repo, rule))


@api.delete("/repos/<owner>/<name>/branches/<path:branch>/protection")
def delete_protection(owner: str, name: str, branch: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    branch_service.delete_protection(db(), repo, user, branch)
    return "", 204


@api.get("/repos/<owner>/<name>/tags")
def list_tags(owner: str, name: str):
    repo = _repository(owner, name)
    items = branch_service.list_tags(settings().repos_dir, repo)
    body, headers = paginate(items, lambda t: repo_shapes.tag(repo, t))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/git/refs")
@api.get("/repos/<owner>/<name>/git/refs/<path:prefix>")
def list_refs(owner: str, name: str, prefix: str = ""):
    """GitHub's older form: an exact match answers one ref, a prefix answers a list."""
    repo = _repository(owner, name)
    pairs = branch_service.list_refs(settings().repos_dir, repo, prefix)
    exact = [p for p in pairs if p[0] == "refs/" + prefix.strip("/")]
    if prefix and exact:
        return jsonify(ref_json(repo, *exact[0]))
    matching = [
        p for p in pairs if not prefix or p[0].startswith("refs/" + prefix.strip("/") + "/")
    ]
    if prefix and not matching:
        raise ApiError(404, "Not Found")
    body, headers = paginate(matching, lambda pair: ref_json(repo, *pair))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/git/ref/<path:ref>")
def get_ref(owner: str, name: str, ref: str):
    repo = _repository(owner, name)
    for found, sha in branch_service.list_refs(settings().repos_dir, repo, ""):
        if found == "refs/" + ref.strip("/"):
            return jsonify(ref_json(repo, found, sha))
    raise ApiError(404, "Not Found")


def ref_json(repo, ref: str, sha: str) -> dict:
    kind = (
        "tag"
        if ref.startswith("refs/tags/")
        and branch_service.is_tag_object(settings().repos_dir, repo, sha)
        else "commit"
    )
    return repo_shapes.git_ref(repo, ref, sha, kind)


# --- changing refs: through the same checks and records as a push ---------------------------


def _ref_change():
    return ref_service.RefChangeSettings.build(settings(), redis_connection(), external_url(""))


@api.post("/repos/<owner>/<name>/git/refs")
def create_ref(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    ref, sha = body_field(body, "ref", str), body_field(body, "sha", str)
    with branch_service.open_git(settings().repos_dir, repo) as git:
        ref_service.create_ref(db(), git, repo, user, ref, sha, _ref_change())
    return jsonify(ref_json(repo, ref, sha)), 201


@api.patch("/repos/<owner>/<name>/git/refs/<path:ref>")
def update_ref(owner: str, name: str, ref: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    sha, force = body_field(body, "sha", str), bool(body_field(body, "force", bool, False))
    full = "refs/" + ref.strip("/")
    with branch_service.open_git(settings().repos_dir, repo) as git:
        ref_service.move_ref(db(), git, repo, user, full, sha, force, _ref_change())
    return jsonify(ref_json(repo, full, sha))


@api.delete("/repos/<owner>/<name>/git/refs/<path:ref>")
def delete_ref(owner: str, name: str, ref: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    with branch_service.open_git(settings().repos_dir, repo) as git:
        ref_service.delete_ref(db(), git, repo, user, "refs/" + ref.strip("/"), _ref_change())
    return "", 204
