"""Repositories and what is read from their git: the repository itself (with a fork's parent
and source), branches, tags, refs, branch protection, commit statuses, commits, the files a
commit or pull request changed, and the entries of GET .../contents."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from flask import current_app, has_app_context
from sqlalchemy.orm import object_session

from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.users import avatar_url, permissions, simple_user
from forge.models import Repository
from forge.repos import push_protection
from forge.repos.forks import fork_count
from forge.repos.repositories import size_kb
from forge.repos.stars import star_count
from forge.repos.watching import watcher_count


def repository(repo: Repository, role: str | None, family: bool = True) -> dict:
    """A repository; a fork names its `parent` and the `source` at the root of its forks
    (those two without their own parent, as GitHub shows them).

    What forge does not have (issues, a wiki, stars, a licence detector, SSH) takes the empty
    value GitHub's schema allows; the URLs of GitHub's repository resources are GitHub's, so a
    client following one to what forge does not serve gets a plain 404."""
    full_name = repo.full_name
    url = api_url(f"/repos/{full_name}")
    html_url = external_url(f"/{full_name}")
    forks = _fork_count(repo)
    body = {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": full_name,
        "owner": simple_user(repo.owner),
        "private": repo.is_private,
        "visibility": "private" if repo.is_private else "public",
        "html_url": html_url,
        "description": repo.description or None,
        "fork": False,
        "url": url,
        **{key: url + suffix for key, suffix in RESOURCE_URLS.items()},
        "clone_url": external_url(f"/{full_name}.git"),
        "git_url": external_url(f"/{full_name}.git"),
        "ssh_url": "",  # forge serves git over HTTP only
        "svn_url": html_url,  # as GitHub's, which names the web page there
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "license": None,
        "topics": [],
        "default_branch": repo.default_branch,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.updated_at),
        # GitHub counts a repository's creation as its first push.
        "pushed_at": timestamp(repo.pushed_at or repo.created_at),
        "archived": False,
        "disabled": False,
        "is_template": False,
        "has_issues": False,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": False,
        "has_discussions": False,
        "size": _size(repo),
        "stargazers_count": _star_count(repo),
        "watchers_count": 0,
        "watchers": 0,
        "forks_count": forks,
        "forks": forks,
        "open_issues_count": 0,
        "open_issues": 0,
        # forge's own (Gerrit's requireChangeId): a push to refs/for/* of a commit without a
        # Change-Id trailer is refused.
        "require_change_id": repo.require_change_id,
    }
    if role is not None:
        body["permissions"] = permissions(role)
    if role == "admin":  # as GitHub shows it: to those who may change it
        body["security_and_analysis"] = _security_and_analysis(repo)
    if repo.fork_of is not None:
        body["fork"] = True
        if family:
            body["parent"] = repository(repo.fork_of, None, family=False)
            body["source"] = repository(_root(repo), None, family=False)
    if family:
        # The full repository of GET /repos/{o}/{r} (and everything built with its family).
        body["network_count"] = _fork_count(_root(repo)) if repo.fork_of is not None else forks
        body["subscribers_count"] = watcher_count(object_session(repo), repo)
    return body


# GitHub's URLs of a repository's resources, after the repository's own API URL.
RESOURCE_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def _root(repo: Repository) -> Repository:
    while repo.fork_of is not None:
        repo = repo.fork_of
    return repo


def _fork_count(repo: Repository) -> int:
    session = object_session(repo)
    return fork_count(session, repo) if session is not None else 0


def _security_and_analysis(repo: Repository) -> dict:
    site_default = (
        current_app.extensions["forge.settings"].push_protection if has_app_context() else True
    )
    enabled = push_protection.is_enabled(repo, site_default)
    return {"secret_scanning_push_protection": {"status": "enabled" if enabled else "disabled"}}


def _star_count(repo: Repository) -> int:
    session = object_session(repo)
    return star_count(session, repo) if session is not None else 0


def _size(repo: Repository) -> int:
    """GitHub's `size`: KiB on disk, measured where the forge's repositories are known (a
    request, or a worker's app); cached until the repository changes."""
    settings = current_app.extensions.get("forge.settings") if has_app_context() else None
    return size_kb(settings.repos_dir, repo) if settings is not None else 0


# --- branches, tags, refs, protection, statuses -------------------------------------------


def commit_ref(full_name: str, sha: str) -> dict:
    return {"sha": sha, "url": api_url(f"/repos/{full_name}/commits/{sha}")}


def branch(repo: Repository, item) -> dict:
    url = api_url(f"/repos/{repo.full_name}/branches/{item.name}")
    return {
        "name": item.name,
        "commit": commit_ref(repo.full_name, item.sha),
        "protected": item.protected,
        "protection_url": url + "/protection",
    }


def branch_detail(repo: Repository, item, rule, full_commit: dict) -> dict:
    """GET .../branches/{branch}: the branch with its full commit and its protection (for an
    unprotected branch, GitHub's "nothing enforced")."""
    body = branch(repo, item)
    body["commit"] = full_commit
    body["_links"] = {
        "self": api_url(f"/repos/{repo.full_name}/branches/{item.name}"),
        "html": external_url(f"/{repo.full_name}/tree/{item.name}"),
    }
    if rule is not None:
        body["protection"] = protection(repo, rule)
    else:
        body["protection"] = {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        }
    return body


def protection(repo: Repository, rule) -> dict:
    url = api_url(f"/repos/{repo.full_name}/branches/{rule.branch}/protection")
    body = {
        "url": url,
        "enabled": True,
        "allow_force_pushes": {"enabled": rule.allow_force_pushes},
        "allow_deletions": {"enabled": rule.allow_deletions},
        "enforce_admins": {"url": url + "/enforce_admins", "enabled": rule.enforce_admins},
        "required_linear_history": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
    }
    if rule.required_approving_review_count is not None:
        body["required_pull_request_reviews"] = {
            "url": url + "/required_pull_request_reviews",
            "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "required_approving_review_count": rule.required_approving_review_count,
        }
    if rule.required_status_checks is not None:
        contexts = rule.required_contexts
        body["required_status_checks"] = {
            "url": url + "/required_status_checks",
            "strict": bool(rule.required_status_checks.get("strict")),
            "contexts": contexts,
            "checks": [{"context": c, "app_id": None} for c in contexts],
            "contexts_url": url + "/required_status_checks/contexts",
        }
    return body


def tag(repo: Repository, item) -> dict:
    base = api_url(f"/repos/{repo.full_name}")
    return {
        "name": item.name,
        "commit": commit_ref(repo.full_name, item.commit),
        "zipball_url": f"{base}/zipball/{item.name}",
        "tarball_url": f"{base}/tarball/{item.name}",
        "node_id": f"T_{repo.id}_{item.name}",
    }


def git_ref(repo: Repository, name: str, sha: str, object_type: str) -> dict:
    return {
        "ref": name,
        "node_id": f"REF_{repo.id}_{name}",
        "url": api_url(f"/repos/{repo.full_name}/git/{name}"),
        "object": {
            "sha": sha,
            "type": object_type,
            "url": api_url(f"/repos/{repo.full_name}/git/{object_type}s/{sha}"),
        },
    }


def status(repo: Repository, row) -> dict:
    return {
        "id": row.id,
        "node_id": f"S_{row.id}",
        "url": api_url(f"/repos/{repo.full_name}/statuses/{row.sha}"),
        "state": row.state,
        "description": row.description or None,
        "target_url": row.target_url or None,
        "context": row.context,
        "avatar_url": avatar_url(row.creator) if row.creator else None,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.created_at),
        "creator": simple_user(row.creator) if row.creator else None,
    }


def combined_status(repo: Repository, sha: str, state: str, latest: list) -> dict:
    return {
        "state": state,
        "sha": sha,
        "total_count": len(latest),
        "statuses": [status(repo, row) for row in latest],
        "repository": repository(repo, None),
        "commit_url": api_url(f"/repos/{repo.full_name}/commits/{sha}"),
        "url": api_url(f"/repos/{repo.full_name}/commits/{sha}/status"),
    }


# --- commits and contents ---------------------------------------------------------------


def file_patch(repo: Repository, ref: str, item) -> dict:
    """One changed file of a pull request or a commit (`ref`: where the new side is)."""
    change = item.change
    base = f"/{repo.full_name}"
    body = {
        "sha": change.new_sha or change.old_sha,
        "filename": change.path,
        "status": {"deleted": "removed"}.get(change.status, change.status),
        "additions": item.additions,
        "deletions": item.deletions,
        "changes": item.additions + item.deletions,
        "blob_url": external_url(f"{base}/blob/{ref}/{change.path}"),
        "raw_url": external_url(f"{base}/raw/{ref}/{change.path}"),
        "contents_url": api_url(f"/repos/{repo.full_name}/contents/{change.path}?ref={ref}"),
    }
    if item.patch is not None:
        body["patch"] = item.patch
    if change.status in ("renamed", "copied") and change.old_path:
        body["previous_filename"] = change.old_path
    return body


def person_time(person) -> str:
    return timestamp(datetime.fromtimestamp(person.time, UTC))


def commit(repo: Repository, info, people: dict, detail=None) -> dict:
    """A commit as GET /repos/{o}/{r}/commits/{sha} answers it; `people` maps lower-cased
    email addresses to forge accounts (GitHub names the account a commit's email belongs to);
    `detail` (files and stats) only for the single-commit answer."""
    url = api_url(f"/repos/{repo.full_name}/commits/{info.sha}")
    git_url = api_url(f"/repos/{repo.full_name}/git/commits/{info.sha}")

    def git_person(person) -> dict:
        return {"name": person.name, "email": person.email, "date": person_time(person)}

    def account(person):
        user = people.get(person.email.lower())
        return simple_user(user) if user is not None else None

    body = {
        "sha": info.sha,
        "node_id": f"C_{info.sha}",
        "url": url,
        "html_url": external_url(f"/{repo.full_name}/commit/{info.sha}"),
        "comments_url": url + "/comments",
        "commit": {
            "url": git_url,
            "sha": info.sha,
            "message": info.message.rstrip("\n"),
            "author": git_person(info.author),
            "committer": git_person(info.committer),
            "tree": {
                "sha": info.tree,
                "url": api_url(f"/repos/{repo.full_name}/git/trees/{info.tree}"),
            },
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",  # forge checks no signatures
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": account(info.author),
        "committer": account(info.committer),
        "parents": [
            commit_ref(repo.full_name, p)
            | {"html_url": external_url(f"/{repo.full_name}/commit/{p}")}
            for p in info.parents
        ],
    }
    if detail is not None:
        body["stats"] = {
            "additions": detail.additions,
            "deletions": detail.deletions,
            "total": detail.additions + detail.deletions,
        }
        body["files"] = [file_patch(repo, info.sha, f) for f in detail.files]
    return body


def content_entry(repo: Repository, ref: str, entry, data: bytes | None = None) -> dict:
    """A file or folder entry of GET /repos/{o}/{r}/contents/{path}; a file's bytes in
    base64 when `data` is given."""
    kind = {"tree": "dir", "blob": "file"}.get(entry.kind, entry.kind)
    url = api_url(f"/repos/{repo.full_name}/contents/{entry.path}?ref={ref}")
    git_kind = "trees" if kind == "dir" else "blobs"
    git_url = api_url(f"/repos/{repo.full_name}/git/{git_kind}/{entry.sha}")
    page = "tree" if kind == "dir" else "blob"
    html_url = external_url(f"/{repo.full_name}/{page}/{ref}/{entry.path}")
    body = {
        "type": kind,
        "name": entry.name,
        "path": entry.path,
        "sha": entry.sha,
        "size": len(data) if data is not None else 0,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": external_url(f"/{repo.full_name}/raw/{ref}/{entry.path}")
        if kind == "file"
        else None,
        "_links": {"self": url, "git": git_url, "html": html_url},
    }
    if data is not None and kind in ("file", "symlink"):
        body["encoding"] = "base64"
        body["content"] = base64.b64encode(data).decode()
        if kind == "symlink":
            body["target"] = data.decode("utf-8", "replace")
    return body
