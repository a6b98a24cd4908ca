"""History and git data as GitHub shows them: a comparison of two revisions, a contributor,
a git commit, tree and blob, and what a contents write answers."""

from __future__ import annotations

import base64

from forge.api.shapes.links import api_url, external_url
from forge.api.shapes.repos import content_entry, file_patch, person_time
from forge.api.shapes.users import simple_user
from forge.models import Repository


def comparison(
    repo: Repository, basehead: str, found, *, base_commit, merge_base_commit, commits
) -> dict:
    """GET /repos/{o}/{r}/compare/{basehead}: `commits` oldest first, the files from the
    merge base to head."""
    page = external_url(f"/{repo.full_name}/compare/{basehead}")
    return {
        "url": api_url(f"/repos/{repo.full_name}/compare/{basehead}"),
        "html_url": page,
        "permalink_url": external_url(
            f"/{repo.full_name}/compare/{found.base.commit}...{found.head.commit}"
        ),
        "diff_url": page + ".diff",
        "patch_url": page + ".patch",
        "base_commit": base_commit,
        "merge_base_commit": merge_base_commit,
        "status": found.status,
        "ahead_by": found.ahead_by,
        "behind_by": found.behind_by,
        "total_commits": found.ahead_by,
        "commits": commits,
        "files": [file_patch(repo, found.head.commit, f) for f in found.files],
    }


def contributor(user, found, contributions: int) -> dict:
    """An account with its count of commits; an author without an account as GitHub's
    anonymous contributor (`anon=1`)."""
    if user is not None:
        return simple_user(user) | {"contributions": contributions}
    return {
        "type": "Anonymous",
        "email": found.email,
        "name": found.name,
        "contributions": contributions,
    }


def _git_person(person) -> dict:
    return {"name": person.name, "email": person.email, "date": person_time(person)}


def git_commit(repo: Repository, info) -> dict:
    """GET /repos/{o}/{r}/git/commits/{sha}: the commit object itself."""
    git_url = f"/repos/{repo.full_name}/git"
    return {
        "sha": info.sha,
        "node_id": f"C_{info.sha}",
        "url": api_url(f"{git_url}/commits/{info.sha}"),
        "html_url": external_url(f"/{repo.full_name}/commit/{info.sha}"),
        "author": _git_person(info.author),
        "committer": _git_person(info.committer),
        "message": info.message.rstrip("\n"),
        "tree": {"sha": info.tree, "url": api_url(f"{git_url}/trees/{info.tree}")},
        "parents": [
            {
                "sha": parent,
                "url": api_url(f"{git_url}/commits/{parent}"),
                "html_url": external_url(f"/{repo.full_name}/commit/{parent}"),
            }
            for parent in info.parents
        ],
        "verification": {"verified": False, "reason": "unsigned", "signature": None,
                         "payload": None, "verified_at": None},
    }  # fmt: skip


def git_tree(repo: Repository, listing) -> dict:
    git_url = f"/repos/{repo.full_name}/git"
    entries = []
    for entry in listing.entries:
        item = {"path": entry.path, "mode": entry.mode_text, "type": entry.kind, "sha": entry.sha}
        if entry.kind == "blob":
            item |= {"size": entry.size, "url": api_url(f"{git_url}/blobs/{entry.sha}")}
        elif entry.kind == "tree":
            item["url"] = api_url(f"{git_url}/trees/{entry.sha}")
        entries.append(item)
    return {
        "sha": listing.sha,
        "url": api_url(f"{git_url}/trees/{listing.sha}"),
        "tree": entries,
        "truncated": listing.truncated,
    }


def blob(repo: Repository, sha: str, data: bytes) -> dict:
    return {
        "sha": sha,
        "node_id": f"B_{sha}",
        "url": api_url(f"/repos/{repo.full_name}/git/blobs/{sha}"),
        "size": len(data),
        "content": base64.b64encode(data).decode(),
        "encoding": "base64",
    }


def blob_created(repo: Repository, sha: str) -> dict:
    return {"sha": sha, "url": api_url(f"/repos/{repo.full_name}/git/blobs/{sha}")}


def file_commit(repo: Repository, written, entry, data: bytes | None, info) -> dict:
    """PUT and DELETE of contents: the file as it now is (None once deleted) and the commit."""
    content = content_entry(repo, written.branch, entry, data) if entry is not None else None
    if content is not None:  # the write's answer carries no bytes, as GitHub's
        content.pop("content", None)
        content.pop("encoding", None)
    return {"content": content, "commit": git_commit(repo, info)}
