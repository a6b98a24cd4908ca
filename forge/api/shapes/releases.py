"""Releases and their assets as GitHub's REST API shows them, and as its `release` webhook
carries them (fewer fields: the webhook schema refuses any other, and has no asset digest)."""

from __future__ import annotations

from forge.api.shapes import text
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.users import simple_user
from forge.api.shapes.webhook_objects import _names, webhook_repository, webhook_user
from forge.models import Release, ReleaseAsset


def upload_url(release: Release) -> str:
    """Where PyGithub and octokit post an asset: GitHub's uploads host is this host's
    /api/uploads (the token that calls the API is accepted there too)."""
    full_name = release.repository.full_name
    return external_url(
        f"/api/uploads/repos/{full_name}/releases/{release.id}/assets{{?name,label}}"
    )


def _archive_urls(release: Release) -> dict:
    """A draft's tag may not exist yet: GitHub names no archive for it either."""
    if release.draft:
        return {"tarball_url": None, "zipball_url": None}
    base = api_url(f"/repos/{release.repository.full_name}")
    return {
        "tarball_url": f"{base}/tarball/{release.tag_name}",
        "zipball_url": f"{base}/zipball/{release.tag_name}",
    }


def html_url(release: Release) -> str:
    full_name = release.repository.full_name
    if release.draft:  # GitHub's drafts are reached by id: they have no tag yet
        return external_url(f"/{full_name}/releases/{release.id}")
    return external_url(f"/{full_name}/releases/tag/{release.tag_name}")


def asset(row: ReleaseAsset) -> dict:
    full_name = row.release.repository.full_name
    return {
        "url": api_url(f"/repos/{full_name}/releases/assets/{row.id}"),
        "browser_download_url": external_url(
            f"/{full_name}/releases/download/{row.release.tag_name}/{row.name}"
        ),
        "id": row.id,
        "node_id": f"RA_{row.id}",
        "name": row.name,
        "label": row.label or None,
        "state": "uploaded",
        "content_type": row.content_type,
        "size": row.size,
        "digest": row.digest,
        "download_count": row.download_count or 0,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "uploader": simple_user(row.uploader) if row.uploader is not None else None,
    }


def _author(release: Release):
    # An author whose account is gone: GitHub shows its ghost; forge the repository's owner.
    return release.author or release.repository.owner


def release(row: Release) -> dict:
    full_name = row.repository.full_name
    url = api_url(f"/repos/{full_name}/releases/{row.id}")
    return {
        "url": url,
        "html_url": html_url(row),
        "assets_url": url + "/assets",
        "upload_url": upload_url(row),
        **_archive_urls(row),
        "id": row.id,
        "node_id": f"RE_{row.id}",
        "tag_name": row.tag_name,
        "target_commitish": row.target_commitish,
        "name": row.name or None,
        **text.body(row.body, row.repository, row.tag_name, nullable=True),
        "draft": row.draft,
        "prerelease": row.prerelease,
        "immutable": False,
        "created_at": timestamp(row.created_at),
        "published_at": timestamp(row.published_at),
        "updated_at": timestamp(row.updated_at),
        "author": simple_user(_author(row)),
        "assets": [asset(a) for a in row.assets],
    }


WEBHOOK_RELEASE_FIELDS = _names(
    "url assets_url upload_url html_url id node_id tag_name target_commitish name draft "
    "author prerelease created_at published_at assets tarball_url zipball_url body"
)
WEBHOOK_ASSET_FIELDS = _names(
    "url browser_download_url id node_id name label state content_type size download_count "
    "created_at updated_at"
)


def webhook_release(row: Release) -> dict:
    body = release(row)
    fitted = {name: body[name] for name in WEBHOOK_RELEASE_FIELDS}
    fitted["name"] = row.name or ""  # the webhook schema's name and body are never null
    fitted["body"] = row.body or ""
    fitted["author"] = webhook_user(_author(row))
    fitted["assets"] = [
        {name: one[name] for name in WEBHOOK_ASSET_FIELDS}
        | ({"uploader": webhook_user(a.uploader)} if a.uploader is not None else {})
        for one, a in zip(body["assets"], row.assets, strict=True)
    ]
    return fitted


def release_event(row: Release, sender, action: str, changes: dict | None = None) -> dict:
    """GitHub's `release` payload: created, published, edited (with `changes`), unpublished,
    deleted."""
    body = {"action": action, "release": webhook_release(row)}
    if action == "edited":
        body["changes"] = changes or {}
    return body | {"repository": webhook_repository(row.repository), "sender": webhook_user(sender)}
