"""Releases, as GitHub's: a tag with a title, notes (markdown) and uploaded files.

Readers of the repository see its published releases; drafts are its writers' only (to anyone
else they do not exist). Publishing a release whose tag is missing creates the tag at
`target_commitish` (a branch or a commit id) through `forge.repos.refs`, so branch protection's
checks and the push records apply as to any other new ref. Deleting a release keeps its tag,
as GitHub does, and removes its files once the deletion commits.

Each change is published as `ReleaseChanged` (webhooks' `release` event).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can, require
from forge.db import after_commit, after_rollback, utcnow
from forge.errors import Invalid, NotFound
from forge.git import refs as git_refs
from forge.models import Release, ReleaseAsset, Repository, User
from forge.repos import release_files
from forge.repos.branches import open_git
from forge.repos.browse import reading
from forge.repos.refs import RefChangeSettings, create_ref

MAX_NAME = 1000
MAX_BODY = 125_000  # GitHub's limit on a release's notes


@dataclass(frozen=True)
class AssetStore:
    """Where assets are kept and how large one may be (FORGE_MAX_ASSET_MB)."""

    root: Path
    max_bytes: int


# --- reading ---------------------------------------------------------------------------------


def _may_see_drafts(session: Session, viewer: User | None, repo: Repository) -> bool:
    return can(session, viewer, "write", repo)


def releases_of(session: Session, repo: Repository, viewer: User | None) -> list[Release]:
    """The repository's releases the viewer may see, newest first (drafts for writers)."""
    require(session, viewer, "read", repo)
    query = (
        select(Release)
        .where(Release.repository_id == repo.id)
        .order_by(Release.created_at.desc(), Release.id.desc())
    )
    if not _may_see_drafts(session, viewer, repo):
        query = query.where(Release.draft.is_(False))
    return list(session.scalars(query))


def _visible(session: Session, release: Release | None, repo: Repository, viewer) -> Release:
    require(session, viewer, "read", repo)
    if release is None or release.repository_id != repo.id:
        raise NotFound("no such release")
    if release.draft and not _may_see_drafts(session, viewer, repo):
        raise NotFound("no such release")
    return release


def get_release(session: Session, repo: Repository, viewer: User | None, release_id: int):
    return _visible(session, session.get(Release, release_id), repo, viewer)


def release_by_tag(session: Session, repo: Repository, viewer: User | None, tag: str) -> Release:
    found = session.scalar(
        select(Release).where(Release.repository_id == repo.id, Release.tag_name == tag)
    )
    return _visible(session, found, repo, viewer)


def latest_release(session: Session, repo: Repository, viewer: User | None) -> Release:
    """GitHub's latest release: the newest published one that is not a prerelease."""
    require(session, viewer, "read", repo)
    found = session.scalar(
        select(Release)
        .where(
            Release.repository_id == repo.id,
            Release.draft.is_(False),
            Release.prerelease.is_(False),
        )
        .order_by(Release.published_at.desc(), Release.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound("no release yet")
    return found


def tag_exists(repos_dir: Path, repo: Repository, tag: str) -> bool:
    with open_git(repos_dir, repo) as git:
        return git_refs.current_value(git, f"refs/tags/{tag}") != git_refs.ZERO


# --- writing ---------------------------------------------------------------------------------


def _check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag.strip():
        raise Invalid("tag_name is required", field="tag_name")
    tag = tag.strip()
    try:
        git_refs.check_ref_name(f"refs/tags/{tag}")
    except ValueError as exc:
        raise Invalid(f"tag_name is not a valid tag name: {exc}", field="tag_name") from None
    return tag


def _check_text(value, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field=field)
    if len(value) > limit:
        raise Invalid(f"{field} is too long (at most {limit} characters)", field=field)
    return value


def _publish_tag(session, repos_dir, repo, actor, release: Release, config) -> None:
    """Create the release's tag at its target when it does not exist yet."""
    with open_git(repos_dir, repo) as git:
        if git_refs.current_value(git, f"refs/tags/{release.tag_name}") != git_refs.ZERO:
            return
    target = release.target_commitish or repo.default_branch
    try:
        with reading(repos_dir, repo) as reader:
            commit = reader.revision(target).commit
    except NotFound:
        raise Invalid(
            f"target_commitish {target!r} names no branch or commit", field="target_commitish"
        ) from None
    with open_git(repos_dir, repo) as git:
        create_ref(session, git, repo, actor, f"refs/tags/{release.tag_name}", commit, config)


def create_release(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    config: RefChangeSettings,
    *,
    tag_name: str,
    target_commitish: str | None = None,
    name: str | None = None,
    body: str | None = None,
    draft: bool = False,
    prerelease: bool = False,
    base_url: str | None = None,
) -> Release:
    require(session, actor, "write", repo)
    tag = _check_tag(tag_name)
    if session.scalar(
        select(Release.id).where(Release.repository_id == repo.id, Release.tag_name == tag)
    ):
        raise Invalid(f"a release of tag {tag} already exists", field="tag_name")
    target = _check_text(target_commitish, "target_commitish", 255).strip()
    release = Release(
        repository=repo,
        tag_name=tag,
        target_commitish=target or repo.default_branch,
        name=_check_text(name, "name", MAX_NAME),
        body=_check_text(body, "body", MAX_BODY),
        draft=bool(draft),
        prerelease=bool(prerelease),
        author=actor,
        published_at=None if draft else utcnow(),
    )
    session.add(release)
    session.flush()
    if not release.draft:
        _publish_tag(session, repos_dir, repo, actor, release, config)
    _announce(session, release, actor, "created", base_url)
    if not release.draft:
        _announce_published(session, release, actor, base_url)
    return release


def update_release(
    session: Session,
    repos_dir: Path,
    release: Release,
    actor: User,
    config: RefChangeSettings,
    base_url: str | None = None,
    **fields,
) -> Release:
    """Change what `fields` names (tag_name, target_commitish, name, body, draft,
    prerelease); None leaves a field as it is."""
    repo = release.repository
    require(session, actor, "write", repo)
    before = {"name": release.name, "body": release.body}
    was_draft, was_prerelease = release.draft, release.prerelease
    if fields.get("tag_name") is not None:
        tag = _check_tag(fields["tag_name"])
        taken = session.scalar(
            select(Release.id).where(
                Release.repository_id == repo.id, Release.tag_name == tag, Release.id != release.id
            )
        )
        if taken:
            raise Invalid(f"a release of tag {tag} already exists", field="tag_name")
        release.tag_name = tag
    if fields.get("target_commitish") is not None:
        target = _check_text(fields["target_commitish"], "target_commitish", 255).strip()
        release.target_commitish = target or repo.default_branch
    if fields.get("name") is not None:
        release.name = _check_text(fields["name"], "name", MAX_NAME)
    if fields.get("body") is not None:
        release.body = _check_text(fields["body"], "body", MAX_BODY)
    if fields.get("prerelease") is not None:
        release.prerelease = bool(fields["prerelease"])
    if fields.get("draft") is not None:
        release.draft = bool(fields["draft"])
    release.updated_at = utcnow()
    if was_draft and not release.draft:
        release.published_at = utcnow()
    elif release.draft:
        release.published_at = None
    session.flush()
    if not release.draft:
        _publish_tag(session, repos_dir, repo, actor, release, config)
    changes = {key: {"from": old} for key, old in before.items() if getattr(release, key) != old}
    if was_draft and not release.draft:
        _announce_published(session, release, actor, base_url)
    elif release.draft and not was_draft:
        _announce(session, release, actor, "unpublished", base_url)
    elif was_prerelease and not release.prerelease and not release.draft:
        _announce(session, release, actor, "released", base_url)  # a pre-release made final
    _announce(session, release, actor, "edited", base_url, changes)
    return release


def delete_release(
    session: Session, store: AssetStore, release: Release, actor: User, base_url=None
) -> None:
    repo = release.repository
    require(session, actor, "write", repo)
    _announce(session, release, actor, "deleted", base_url)
    files = [release_files.asset_path(store.root, repo.id, a.id) for a in release.assets]
    session.delete(release)
    session.flush()
    after_commit(session, lambda: release_files.remove(files))


def _announce_published(session, release: Release, actor: User, base_url) -> None:
    """GitHub's order: published, then prereleased or released."""
    _announce(session, release, actor, "published", base_url)
    _announce(
        session, release, actor, "prereleased" if release.prerelease else "released", base_url
    )


def _announce(session, release: Release, actor: User, action: str, base_url, changes=None):
    events.publish(
        session,
        events.ReleaseChanged(
            release=release, sender=actor, action=action, changes=changes or {}, base_url=base_url
        ),
    )


# --- assets ----------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._+\-]+")


def asset_name(name: str | None) -> str:
    """GitHub's renaming of an uploaded file: characters other than letters, digits and
    `._+-` become '.', and leading or trailing dots go."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name is required: the file name of the asset", field="name")
    cleaned = _UNSAFE_NAME.sub(".", name.strip()).strip(".")
    if not cleaned or len(cleaned) > 255:
        raise Invalid("name must hold 1 to 255 letters, digits or ._+-", field="name")
    return cleaned


def get_asset(session: Session, repo: Repository, viewer: User | None, asset_id: int):
    asset = session.get(ReleaseAsset, asset_id)
    if asset is None:
        raise NotFound("no such asset")
    _visible(session, asset.release, repo, viewer)
    return asset


def upload_asset(
    session: Session,
    store: AssetStore,
    release: Release,
    actor: User,
    *,
    name: str | None,
    label: str | None,
    content_type: str | None,
    chunks: Iterable[bytes],
) -> ReleaseAsset:
    """Store an uploaded file as an asset of the release; the file is read from `chunks`
    (Invalid when it is larger than the store allows, and nothing is kept)."""
    repo = release.repository
    require(session, actor, "write", repo)
    name = asset_name(name)
    if any(asset.name == name for asset in release.assets):
        raise Invalid(f"the release already has an asset named {name}", field="name")
    try:
        received = release_files.receive(store.root, repo.id, chunks, store.max_bytes)
    except release_files.TooLarge as exc:
        raise Invalid(str(exc), field="size") from None
    try:
        asset = ReleaseAsset(
            release=release,
            name=name,
            label=_check_text(label, "label", MAX_NAME),
            content_type=(content_type or "application/octet-stream")[:255],
            size=received.size,
            digest=received.digest,
            download_count=0,
            uploader=actor,
        )
        session.add(asset)
        session.flush()
    except BaseException:
        received.discard()
        raise
    final = release_files.asset_path(store.root, repo.id, asset.id)
    received.keep_as(final)
    after_rollback(session, lambda: release_files.remove([final]))
    return asset


def update_asset(session: Session, asset: ReleaseAsset, actor: User, name=None, label=None):
    require(session, actor, "write", asset.release.repository)
    if name is not None:
        name = asset_name(name)
        if any(a.name == name and a.id != asset.id for a in asset.release.assets):
            raise Invalid(f"the release already has an asset named {name}", field="name")
        asset.name = name
    if label is not None:
        asset.label = _check_text(label, "label", MAX_NAME)
    asset.updated_at = utcnow()
    session.flush()
    return asset


def delete_asset(session: Session, store: AssetStore, asset: ReleaseAsset, actor: User) -> None:
    repo = asset.release.repository
    require(session, actor, "write", repo)
    path = release_files.asset_path(store.root, repo.id, asset.id)
    asset.release.assets.remove(asset)  # the collection's delete-orphan deletes the row
    session.flush()
    after_commit(session, lambda: release_files.remove([path]))


def asset_file(session: Session, store: AssetStore, asset: ReleaseAsset) -> Path:
    """The asset's bytes on disk, counted as one download."""
    # Counted in the database, not in Python: two downloads at once both count.
    session.execute(
        update(ReleaseAsset)
        .where(ReleaseAsset.id == asset.id)
        .values(download_count=ReleaseAsset.download_count + 1)
    )
    path = release_files.asset_path(store.root, asset.release.repository_id, asset.id)
    if not path.is_file():
        raise NotFound("the asset's file is missing")
    return path
