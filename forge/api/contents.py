"""Reading and writing a repository's files: GET, PUT and DELETE /repos/{o}/{r}/contents/{path}
(a write is a commit on the branch, moved as a push moves it), GET .../readme, and forks:
POST and GET /repos/{o}/{r}/forks. A file answers its bytes for GitHub's `.raw` media type
and its rendering for `.html`."""

from __future__ import annotations

import base64
import binascii

from flask import jsonify, request

from forge.accounts.permissions import role_of
from forge.api import api, media
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body, person_field
from forge.api.pagination import paginate
from forge.api.shapes import history as history_shapes
from forge.api.shapes import repos as repo_shapes
from forge.errors import Invalid
from forge.repos import contents as content_service
from forge.repos import editing, git_data, history
from forge.repos import forks as fork_service
from forge.repos.refs import RefChangeSettings
from forge.repos.repositories import get_repository
from forge.web import external_url
from forge.web.context import db, redis_connection, settings


# The top folder's two rules take `path` from the signature, not from `defaults=`: rules of
# one endpoint with defaults would 308-redirect one form to the other.
@api.get("/repos/<owner>/<name>/contents")
@api.get("/repos/<owner>/<name>/contents/")
@api.get("/repos/<owner>/<name>/contents/<path:path>")
def get_contents(owner: str, name: str, path: str = ""):
    repo = get_repository(db(), owner, name, repo_viewer())
    ref = request.args.get("ref") or None
    found = content_service.contents(settings().repos_dir, repo, path, ref)
    shown_ref = ref or found.revision
    if found.entry.kind == "tree":
        return jsonify([repo_shapes.content_entry(repo, shown_ref, e) for e in found.entries])
    return _file_answer(repo, shown_ref, found)


def _file_answer(repo, ref: str, found):
    """A file as JSON, or in the media type the client asked for."""
    kind = media.wanted()
    if kind == "raw" and found.data is not None:
        return media.raw(found.data)
    if kind == "html" and found.data is not None:
        base = f"/{repo.full_name}"
        return media.html(
            history.rendered_file(
                found.entry.path,
                found.data,
                blob_base=external_url(f"{base}/blob/{ref}"),
                raw_base=external_url(f"{base}/raw/{ref}"),
            )
        )
    return jsonify(repo_shapes.content_entry(repo, ref, found.entry, found.data))


@api.get("/repos/<owner>/<name>/readme")
@api.get("/repos/<owner>/<name>/readme/<path:folder>")
def get_readme(owner: str, name: str, folder: str = ""):
    repo = get_repository(db(), owner, name, repo_viewer())
    ref = request.args.get("ref") or None
    found = history.readme(settings().repos_dir, repo, folder, ref)
    return _file_answer(repo, ref or found.revision, found)


# --- writing: each write is one commit on the branch -----------------------------------------


def _person(body: dict, key: str) -> editing.Person | None:
    given = person_field(body, key)
    return editing.Person(*given) if given else None


def _written(repo, path: str, written, status: int):
    found = None
    if written.blob is not None:
        found = content_service.contents(settings().repos_dir, repo, path, written.commit)
    info = git_data.get_commit(settings().repos_dir, repo, written.commit)
    body = history_shapes.file_commit(
        repo, written, found.entry if found else None, found.data if found else None, info
    )
    return jsonify(body), status


def _write(owner: str, name: str, path: str, content: bytes | None):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    body = json_body()
    config = RefChangeSettings.build(settings(), redis_connection(), external_url(""))
    return repo, editing.write_file(
        db(),
        settings().repos_dir,
        repo,
        user,
        path,
        content,
        body_field(body, "message", str, "") or "",
        config,
        branch=body_field(body, "branch", str),
        expected_sha=body_field(body, "sha", str),
        author=_person(body, "author"),
        committer=_person(body, "committer"),
    )


@api.put("/repos/<owner>/<name>/contents/<path:path>")
def put_contents(owner: str, name: str, path: str):
    encoded = body_field(json_body(), "content", str)
    if encoded is None:
        raise Invalid("content is required: the file's bytes in base64", field="content")
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("content must be base64", field="content") from None
    repo, written = _write(owner, name, path, content)
    return _written(repo, path, written, 201 if written.created else 200)


@api.delete("/repos/<owner>/<name>/contents/<path:path>")
def delete_contents(owner: str, name: str, path: str):
    if body_field(json_body(), "sha", str) is None:
        raise Invalid('"sha" wasn\'t supplied: the blob id of the file to delete', field="sha")
    repo, written = _write(owner, name, path, None)
    return _written(repo, path, written, 200)


# --- forks ----------------------------------------------------------------------------------


@api.post("/repos/<owner>/<name>/forks")
def create_fork(owner: str, name: str):
    user = require_scope("repo")
    source = get_repository(db(), owner, name, repo_viewer())
    fork, _new = fork_service.fork_repository(
        db(), settings().repos_dir, source, user, name=body_field(json_body(), "name", str)
    )
    # GitHub answers 202: its copy finishes later. forge's is done, but clients expect 202.
    return jsonify(repo_shapes.repository(fork, role_of(db(), user, fork))), 202


@api.get("/repos/<owner>/<name>/forks")
def list_forks(owner: str, name: str):
    source = get_repository(db(), owner, name, repo_viewer())
    found = fork_service.forks_of(db(), source, repo_viewer())
    body, headers = paginate(
        found, lambda fork: repo_shapes.repository(fork, role_of(db(), repo_viewer(), fork))
    )
    return jsonify(body), 200, headers
