"""GitHub's git data API: /repos/{o}/{r}/git/commits, /git/trees, /git/blobs (GET, and POST
to make one from parts) and /git/matching-refs/{prefix}."""

from __future__ import annotations

import base64
import binascii

from flask import jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body, person_field
from forge.api.branches import ref_json
from forge.api.pagination import paginate
from forge.api.shapes import history as history_shapes
from forge.errors import Invalid
from forge.git.authoring import TreeItem
from forge.git.merge import Identity
from forge.repos import branches as branch_service
from forge.repos import git_data
from forge.repos.repositories import get_repository
from forge.web.context import db, settings

MODES = {"100644": 0o100644, "100755": 0o100755, "040000": 0o040000, "160000": 0o160000,
         "120000": 0o120000}  # fmt: skip


def _repository(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


@api.get("/repos/<owner>/<name>/git/matching-refs/")
@api.get("/repos/<owner>/<name>/git/matching-refs/<path:prefix>")
def matching_refs(owner: str, name: str, prefix: str = ""):
    """Refs whose name starts with refs/PREFIX, as a list, empty when none match."""
    repo = _repository(owner, name)
    wanted = "refs/" + prefix
    pairs = [
        p
        for p in branch_service.list_refs(settings().repos_dir, repo, "")
        if p[0].startswith(wanted)
    ]
    body, headers = paginate(pairs, lambda pair: ref_json(repo, *pair))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/git/commits/<sha>")
def get_git_commit(owner: str, name: str, sha: str):
    repo = _repository(owner, name)
    return jsonify(
        history_shapes.git_commit(repo, git_data.get_commit(settings().repos_dir, repo, sha))
    )


def _identity(body: dict, key: str) -> Identity | None:
    given = person_field(body, key)
    return Identity(*given) if given else None


@api.post("/repos/<owner>/<name>/git/commits")
def create_git_commit(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    tree = body_field(body, "tree", str)
    if not tree:
        raise Invalid("tree is required", field="tree")
    parents = body_field(body, "parents", list, []) or []
    if not all(isinstance(p, str) for p in parents):
        raise Invalid("parents must be a list of commit ids", field="parents")
    info = git_data.create_commit(
        db(),
        settings().repos_dir,
        repo,
        user,
        message=body_field(body, "message", str, "") or "",
        tree=tree,
        parents=parents,
        author=_identity(body, "author"),
        committer=_identity(body, "committer"),
    )
    return jsonify(history_shapes.git_commit(repo, info)), 201


@api.get("/repos/<owner>/<name>/git/trees/<path:sha>")
def get_git_tree(owner: str, name: str, sha: str):
    repo = _repository(owner, name)
    # GitHub: any value of `recursive` but an absent one means recursive ("0" included).
    recursive = "recursive" in request.args and request.args["recursive"] not in ("", "false")
    listing = git_data.get_tree(settings().repos_dir, repo, sha, recursive)
    return jsonify(history_shapes.git_tree(repo, listing))


def _tree_item(item) -> TreeItem:
    if not isinstance(item, dict):
        raise Invalid("each tree entry must be an object with path, mode and type", "tree")
    path, mode = body_field(item, "path", str), body_field(item, "mode", str)
    if not path:
        raise Invalid("each tree entry needs a path", field="path")
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}", field="mode")
    sha, content = body_field(item, "sha", str), body_field(item, "content", str)
    if sha is not None and content is not None:
        raise Invalid("a tree entry takes sha or content, not both", field="content")
    data = content.encode() if content is not None else None
    return TreeItem(path, MODES[mode], sha, data)


@api.post("/repos/<owner>/<name>/git/trees")
def create_git_tree(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    items = body_field(body, "tree", list)
    if items is None:
        raise Invalid("tree is required: a list of entries", field="tree")
    listing = git_data.create_tree(
        db(),
        settings().repos_dir,
        repo,
        user,
        body_field(body, "base_tree", str),
        [_tree_item(item) for item in items],
    )
    return jsonify(history_shapes.git_tree(repo, listing)), 201


@api.get("/repos/<owner>/<name>/git/blobs/<sha>")
def get_git_blob(owner: str, name: str, sha: str):
    repo = _repository(owner, name)
    data = git_data.get_blob(settings().repos_dir, repo, sha)
    return jsonify(history_shapes.blob(repo, sha, data))


@api.post("/repos/<owner>/<name>/git/blobs")
def create_git_blob(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body()
    content = body_field(body, "content", str)
    if content is None:
        raise Invalid("content is required", field="content")
    encoding = body_field(body, "encoding", str, "utf-8") or "utf-8"
    if encoding not in ("utf-8", "base64"):
        raise Invalid("encoding must be utf-8 or base64", field="encoding")
    try:
        data = (
            base64.b64decode(content, validate=True) if encoding == "base64" else content.encode()
        )
    except (binascii.Error, ValueError):
        raise Invalid("content is not base64", field="content") from None
    sha = git_data.create_blob(db(), settings().repos_dir, repo, user, data)
    return jsonify(history_shapes.blob_created(repo, sha)), 201
