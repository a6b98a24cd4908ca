"""Releases as GitHub's REST API serves them: /repos/{o}/{r}/releases[/{id}|/latest|/tags/{tag}],
their assets (/releases/{id}/assets, /releases/assets/{id}, the bytes for `Accept:
application/octet-stream`), the upload at the `upload_url` each release names
(/api/uploads/repos/{o}/{r}/releases/{id}/assets?name=&label=, GitHub's uploads host on this
one), and the source archives /repos/{o}/{r}/zipball/{ref} and /tarball/{ref}."""

from __future__ import annotations

from flask import Response, jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import releases as release_shapes
from forge.repos import browse
from forge.repos import releases as release_service
from forge.repos.refs import RefChangeSettings
from forge.repos.release_files import CHUNK
from forge.repos.repositories import get_repository
from forge.web import external_url
from forge.web.context import db, redis_connection, settings
from forge.web.releases import asset_download

UPLOAD_RULE = "/api/uploads/repos/<owner>/<name>/releases/<int:release_id>/assets"
UPLOAD_ENDPOINT = "api.upload_release_asset"


def store() -> release_service.AssetStore:
    return release_service.AssetStore(settings().releases_dir, settings().max_asset_bytes)


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


def _writer(owner: str, name: str):
    user = require_scope("repo")
    return user, get_repository(db(), owner, name, repo_viewer())


def _config() -> RefChangeSettings:
    return RefChangeSettings.build(settings(), redis_connection(), external_url(""))


def _fields(body: dict) -> dict:
    fields = {key: body_field(body, key, str) for key in ("tag_name", "target_commitish")}
    fields |= {key: body_field(body, key, str) for key in ("name", "body")}
    fields |= {key: body_field(body, key, bool) for key in ("draft", "prerelease")}
    return fields


@api.get("/repos/<owner>/<name>/releases")
def list_releases(owner: str, name: str):
    repo = _repo(owner, name)
    found = release_service.releases_of(db(), repo, repo_viewer())
    body, headers = paginate(found, release_shapes.release)
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/releases")
def create_release(owner: str, name: str):
    user, repo = _writer(owner, name)
    fields = _fields(json_body())
    release = release_service.create_release(
        db(),
        settings().repos_dir,
        repo,
        user,
        _config(),
        tag_name=fields["tag_name"],
        target_commitish=fields["target_commitish"],
        name=fields["name"],
        body=fields["body"],
        draft=bool(fields["draft"]),
        prerelease=bool(fields["prerelease"]),
    )
    return jsonify(release_shapes.release(release)), 201


@api.get("/repos/<owner>/<name>/releases/<int:release_id>")
def get_release(owner: str, name: str, release_id: int):
    repo = _repo(owner, name)
    release = release_service.get_release(db(), repo, repo_viewer(), release_id)
    return jsonify(release_shapes.release(release))


@api.get("/repos/<owner>/<name>/releases/latest")
def latest_release(owner: str, name: str):
    release = release_service.latest_release(db(), _repo(owner, name), repo_viewer())
    return jsonify(release_shapes.release(release))


@api.get("/repos/<owner>/<name>/releases/tags/<path:tag>")
def release_by_tag(owner: str, name: str, tag: str):
    release = release_service.release_by_tag(db(), _repo(owner, name), repo_viewer(), tag)
    return jsonify(release_shapes.release(release))


@api.patch("/repos/<owner>/<name>/releases/<int:release_id>")
def update_release(owner: str, name: str, release_id: int):
    user, repo = _writer(owner, name)
    release = release_service.get_release(db(), repo, user, release_id)
    release = release_service.update_release(
        db(), settings().repos_dir, release, user, _config(), **_fields(json_body())
    )
    return jsonify(release_shapes.release(release))


@api.delete("/repos/<owner>/<name>/releases/<int:release_id>")
def delete_release(owner: str, name: str, release_id: int):
    user, repo = _writer(owner, name)
    release = release_service.get_release(db(), repo, user, release_id)
    release_service.delete_release(db(), store(), release, user)
    return "", 204


# --- assets ----------------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/releases/<int:release_id>/assets")
def list_assets(owner: str, name: str, release_id: int):
    release = release_service.get_release(db(), _repo(owner, name), repo_viewer(), release_id)
    body, headers = paginate(list(release.assets), release_shapes.asset)
    return jsonify(body), 200, headers


def _wants_bytes() -> bool:
    return "application/octet-stream" in request.headers.get("Accept", "")


@api.get("/repos/<owner>/<name>/releases/assets/<int:asset_id>")
def get_asset(owner: str, name: str, asset_id: int):
    asset = release_service.get_asset(db(), _repo(owner, name), repo_viewer(), asset_id)
    if not _wants_bytes():
        return jsonify(release_shapes.asset(asset))
    return asset_download(asset)


@api.patch("/repos/<owner>/<name>/releases/assets/<int:asset_id>")
def update_asset(owner: str, name: str, asset_id: int):
    user, repo = _writer(owner, name)
    asset = release_service.get_asset(db(), repo, user, asset_id)
    body = json_body()
    asset = release_service.update_asset(
        db(), asset, user, name=body_field(body, "name", str), label=body_field(body, "label", str)
    )
    return jsonify(release_shapes.asset(asset))


@api.delete("/repos/<owner>/<name>/releases/assets/<int:asset_id>")
def delete_asset(owner: str, name: str, asset_id: int):
    user, repo = _writer(owner, name)
    asset = release_service.get_asset(db(), repo, user, asset_id)
    release_service.delete_asset(db(), store(), asset, user)
    return "", 204


def _request_chunks():
    stream = request.stream
    while chunk := stream.read(CHUNK):
        yield chunk


def upload_release_asset(owner: str, name: str, release_id: int):
    """POST to a release's `upload_url`: the body is the file, `name` and `label` are in the
    query, the Content-Type header is the asset's."""
    user, repo = _writer(owner, name)
    if request.content_length is not None and request.content_length > store().max_bytes:
        raise ApiError(413, f"the file is larger than FORGE_MAX_ASSET_MB ({_max_mb()} MB)")
    release = release_service.get_release(db(), repo, user, release_id)
    asset = release_service.upload_asset(
        db(),
        store(),
        release,
        user,
        name=request.args.get("name"),
        label=request.args.get("label"),
        content_type=request.headers.get("Content-Type"),
        chunks=_request_chunks(),
    )
    return jsonify(release_shapes.asset(asset)), 201


def _max_mb() -> int:
    return store().max_bytes // (1024 * 1024)


@api.record_once
def _serve_uploads(state) -> None:
    # On the application, not under /api/v3, as GitHub's uploads host; the endpoint's "api."
    # prefix makes it the API blueprint's (its error shapes, no CSRF: a token calls it).
    state.app.add_url_rule(
        UPLOAD_RULE, endpoint=UPLOAD_ENDPOINT, view_func=upload_release_asset, methods=["POST"]
    )


# --- source archives -------------------------------------------------------------------------


# Each form's `ref` comes from the signature, not from `defaults=`: rules of one endpoint with
# defaults would redirect one form to the other.
@api.get("/repos/<owner>/<name>/zipball")
@api.get("/repos/<owner>/<name>/zipball/<path:ref>")
def zipball(owner: str, name: str, ref: str | None = None):
    return _source_archive(owner, name, ref, ".zip")


@api.get("/repos/<owner>/<name>/tarball")
@api.get("/repos/<owner>/<name>/tarball/<path:ref>")
def tarball(owner: str, name: str, ref: str | None = None):
    return _source_archive(owner, name, ref, ".tar.gz")


def _source_archive(owner: str, name: str, ref: str | None, suffix: str):
    """GitHub's zipball and tarball: the tree of a branch, tag or commit (the default
    branch without one), served here rather than redirected to another host."""
    repo = _repo(owner, name)
    found = browse.archive(settings().repos_dir, repo, (ref or repo.default_branch) + suffix)
    response = Response(found.chunks, content_type=found.content_type, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response
