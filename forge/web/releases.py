"""Release pages: a repository's releases, one release (notes, assets, source archives), the
new and edit forms and the asset upload for writers, and asset downloads at GitHub's
/OWNER/REPO/releases/download/TAG/NAME."""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from forge.accounts.permissions import can
from forge.errors import Invalid, NotFound
from forge.repos import releases as release_service
from forge.repos.markup import render_markdown
from forge.repos.refs import RefChangeSettings
from forge.repos.release_files import read_chunks
from forge.repos.repositories import get_repository
from forge.web import external_url
from forge.web.browse import render_repo_page
from forge.web.context import db, redis_connection, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("releases", __name__)


class ReleaseForm(FlaskForm):
    tag_name = StringField("Tag", validators=[DataRequired(), Length(max=255)])
    target_commitish = StringField("Target (a branch or commit, when the tag is new)")
    name = StringField("Title", validators=[Length(max=release_service.MAX_NAME)])
    body = TextAreaField("Notes (Markdown)", validators=[Length(max=release_service.MAX_BODY)])
    prerelease = BooleanField("This is a pre-release")
    draft = BooleanField("Save as a draft (only writers see it; no tag is made yet)")


class AssetForm(FlaskForm):
    file = FileField("File")
    label = StringField("Label (optional)", validators=[Length(max=release_service.MAX_NAME)])


def _store() -> release_service.AssetStore:
    return release_service.AssetStore(settings().releases_dir, settings().max_asset_bytes)


def _config() -> RefChangeSettings:
    return RefChangeSettings.build(settings(), redis_connection(), external_url(""))


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, viewer())


def _writer_repo(owner: str, name: str):
    repo = _repo(owner, name)
    if not can(db(), viewer(), "write", repo):
        raise NotFound(f"repository {repo.full_name} has no such page")
    return repo


@bp.app_template_global()
def releases_by_tag(repo) -> dict:
    """The repository's releases the viewer may see, by tag name (the tags page links them)."""
    return {r.tag_name: r for r in release_service.releases_of(db(), repo, viewer())}


@bp.app_template_global()
def can_write_releases(repo) -> bool:
    return can(db(), viewer(), "write", repo)


def notes_html(release):
    full_name = release.repository.full_name
    return render_markdown(
        release.body or "",
        external_url(f"/{full_name}/blob/{release.tag_name}"),
        external_url(f"/{full_name}/raw/{release.tag_name}"),
        "",
    )


def _page(template: str, repo, status: int = 200, **values):
    can_write = can(db(), viewer(), "write", repo)
    html = render_repo_page(
        template, repo, "releases", can_write=can_write, notes_html=notes_html, **values
    )
    return html, status


@bp.route("/<owner>/<name>/releases")
def index(owner: str, name: str):
    repo = _repo(owner, name)
    found = release_service.releases_of(db(), repo, viewer())
    latest = None
    with contextlib.suppress(NotFound):  # no published release yet
        latest = release_service.latest_release(db(), repo, viewer())
    return _page("repo_releases.html", repo, releases=found, latest=latest, post=PostForm())


def _show(repo, release):
    return _page(
        "repo_release.html", repo, release=release, asset_form=AssetForm(), post=PostForm()
    )


@bp.route("/<owner>/<name>/releases/tag/<path:tag>")
def show_tag(owner: str, name: str, tag: str):
    repo = _repo(owner, name)
    return _show(repo, release_service.release_by_tag(db(), repo, viewer(), tag))


@bp.route("/<owner>/<name>/releases/<int:release_id>")
def show(owner: str, name: str, release_id: int):
    repo = _repo(owner, name)
    release = release_service.get_release(db(), repo, viewer(), release_id)
    if not release.draft:
        return redirect(url_for(".show_tag", owner=owner, name=name, tag=release.tag_name))
    return _show(repo, release)


def _fields(form: ReleaseForm) -> dict:
    names = ("tag_name", "target_commitish", "name", "body", "draft", "prerelease")
    return {name: getattr(form, name).data for name in names}


def _form_page(repo, form, release=None, status=200):
    return _page("repo_release_form.html", repo, status, form=form, release=release)


def _refused(form, exc: Invalid) -> None:
    db().rollback()
    field = getattr(form, exc.field or "", None) or form.tag_name
    field.errors = [*field.errors, exc.message]


def _redirect_to(release):
    owner, name = release.repository.owner.name, release.repository.name
    if release.draft:
        return redirect(url_for(".show", owner=owner, name=name, release_id=release.id))
    return redirect(url_for(".show_tag", owner=owner, name=name, tag=release.tag_name))


@bp.route("/<owner>/<name>/releases/new", methods=["GET", "POST"])
@login_required
def new(owner: str, name: str):
    repo = _writer_repo(owner, name)
    form = ReleaseForm()
    if request.method == "GET":
        form.tag_name.data = request.args.get("tag", "")
        form.target_commitish.data = repo.default_branch
        return _form_page(repo, form)
    if not form.validate_on_submit():
        return _form_page(repo, form, status=400)
    try:
        release = release_service.create_release(
            db(), settings().repos_dir, repo, viewer(), _config(), **_fields(form)
        )
    except Invalid as exc:
        _refused(form, exc)
        return _form_page(_writer_repo(owner, name), form, status=400)
    db().commit()
    flash(f"Release {release.tag_name} {'saved as a draft' if release.draft else 'published'}.")
    return _redirect_to(release)


@bp.route("/<owner>/<name>/releases/<int:release_id>/edit", methods=["GET", "POST"])
@login_required
def edit(owner: str, name: str, release_id: int):
    repo = _writer_repo(owner, name)
    release = release_service.get_release(db(), repo, viewer(), release_id)
    form = ReleaseForm(obj=release)
    if request.method == "GET":
        return _form_page(repo, form, release)
    if not form.validate_on_submit():
        return _form_page(repo, form, release, status=400)
    try:
        release = release_service.update_release(
            db(), settings().repos_dir, release, viewer(), _config(), **_fields(form)
        )
    except Invalid as exc:
        _refused(form, exc)
        repo = _writer_repo(owner, name)
        release = release_service.get_release(db(), repo, viewer(), release_id)
        return _form_page(repo, form, release, status=400)
    db().commit()
    flash("Release saved.")
    return _redirect_to(release)


@bp.route("/<owner>/<name>/releases/<int:release_id>/delete", methods=["POST"])
@login_required
def delete(owner: str, name: str, release_id: int):
    repo = _writer_repo(owner, name)
    release = release_service.get_release(db(), repo, viewer(), release_id)
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired; reload the page and try again")
    tag = release.tag_name
    release_service.delete_release(db(), _store(), release, viewer())
    db().commit()
    flash(f"Release {tag} deleted; its tag stays.")
    return redirect(url_for(".index", owner=owner, name=name))


@bp.route("/<owner>/<name>/releases/<int:release_id>/assets", methods=["POST"])
@login_required
def upload_asset(owner: str, name: str, release_id: int):
    repo = _writer_repo(owner, name)
    release = release_service.get_release(db(), repo, viewer(), release_id)
    form = AssetForm()
    if not form.validate_on_submit() or not form.file.data:
        flash("Choose a file to upload.", "error")
        return _redirect_to(release), 303
    upload = form.file.data
    chunks = iter(lambda: upload.stream.read(1 << 20), b"")
    try:
        asset = release_service.upload_asset(
            db(), _store(), release, viewer(), name=upload.filename, label=form.label.data,
            content_type=upload.mimetype or None, chunks=chunks,
        )  # fmt: skip
    except Invalid as exc:
        db().rollback()
        flash(f"Not uploaded: {exc.message}", "error")
        release = release_service.get_release(db(), _repo(owner, name), viewer(), release_id)
        return _redirect_to(release), 303
    db().commit()
    flash(f"Uploaded {asset.name}.")
    return _redirect_to(release), 303


@bp.route("/<owner>/<name>/releases/assets/<int:asset_id>/delete", methods=["POST"])
@login_required
def delete_asset(owner: str, name: str, asset_id: int):
    repo = _writer_repo(owner, name)
    asset = release_service.get_asset(db(), repo, viewer(), asset_id)
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired; reload the page and try again")
    release, asset_name = asset.release, asset.name
    release_service.delete_asset(db(), _store(), asset, viewer())
    db().commit()
    flash(f"Deleted {asset_name}.")
    return _redirect_to(release)


@bp.route("/<owner>/<name>/releases/download/<path:tag>/<filename>")
def download(owner: str, name: str, tag: str, filename: str):
    repo = _repo(owner, name)
    release = release_service.release_by_tag(db(), repo, viewer(), tag)
    found = next((a for a in release.assets if a.name == filename), None)
    if found is None:
        raise NotFound(f"release {tag} has no file named {filename}")
    return asset_download(found)


def asset_download(asset) -> Response:
    """An asset's bytes, streamed from disk and counted as a download (the API's too)."""
    path = release_service.asset_file(db(), _store(), asset)
    response = Response(read_chunks(path), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(asset.size)
    response.headers["Content-Disposition"] = f'attachment; filename="{asset.name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
