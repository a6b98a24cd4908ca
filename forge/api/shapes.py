"""The one place that builds GitHub JSON shapes from forge's models."""

from __future__ import annotations

import base64
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from forge.accounts.permissions import ROLE_RANK
from forge.models import Repository, User
from forge.web import external_url as _request_url

# The forge's external URL when shapes are built outside a request (webhook payloads).
_BASE_URL: ContextVar[str | None] = ContextVar("forge_base_url", default=None)


@contextmanager
def links_from(base_url: str | None):
    """Build absolute URLs from `base_url` in this block (None: from settings or request)."""
    token = _BASE_URL.set(base_url.rstrip("/") if base_url else None)
    try:
        yield
    finally:
        _BASE_URL.reset(token)


def external_url(path: str) -> str:
    base = _BASE_URL.get()
    return base + path if base is not None else _request_url(path)


# The permission names GitHub accepts when adding a collaborator -> forge's role.
FORGE_ROLE = {
    "pull": "read",
    "triage": "triage",
    "push": "write",
    "maintain": "maintain",
    "admin": "admin",
}
# forge role -> GitHub's legacy base permission (maintain counts as write, triage as read),
# what GET .../collaborators/{u}/permission answers in `permission`.
LEGACY_PERMISSION = {
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}


def api_url(path: str) -> str:
    return external_url("/api/v3" + path)


def timestamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def simple_user(user: User) -> dict:
    url = api_url(f"/users/{user.name}")
    return {
        "login": user.name,
        "id": user.id,
        "node_id": f"U_{user.id}",
        "avatar_url": "",
        "gravatar_id": "",
        "url": url,
        "html_url": external_url(f"/{user.name}"),
        "repos_url": url + "/repos",
        "type": "User",
        "site_admin": user.is_admin,
    }


def full_user(user: User, public_repos: int, private: bool = False) -> dict:
    body = simple_user(user) | {
        "name": user.full_name or None,
        "email": user.email if private else None,
        "public_repos": public_repos,
        "followers": 0,
        "following": 0,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }
    return body


def permissions(role: str | None) -> dict:
    rank = ROLE_RANK.get(role, 0) if role else 0
    return {
        "admin": rank >= ROLE_RANK["admin"],
        "maintain": rank >= ROLE_RANK["maintain"],
        "push": rank >= ROLE_RANK["write"],
        "triage": rank >= ROLE_RANK["triage"],
        "pull": rank >= ROLE_RANK["read"],
    }


def repository(repo: Repository, role: str | None, family: bool = True) -> dict:
    """A repository; a fork names its `parent` and the `source` at the root of its forks
    (those two without their own parent, as GitHub shows them)."""
    full_name = repo.full_name
    url = api_url(f"/repos/{full_name}")
    body = {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": full_name,
        "owner": simple_user(repo.owner),
        "private": repo.is_private,
        "visibility": "private" if repo.is_private else "public",
        "html_url": external_url(f"/{full_name}"),
        "description": repo.description or None,
        "fork": False,
        "url": url,
        "clone_url": external_url(f"/{full_name}.git"),
        "git_url": external_url(f"/{full_name}.git"),
        "collaborators_url": url + "/collaborators{/collaborator}",
        "branches_url": url + "/branches{/branch}",
        "hooks_url": url + "/hooks",
        "pulls_url": url + "/pulls{/number}",
        "forks_url": url + "/forks",
        "default_branch": repo.default_branch,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.updated_at),
        "pushed_at": timestamp(repo.pushed_at),
        "archived": False,
        "disabled": False,
        "has_issues": False,
        "has_wiki": False,
        "has_pages": False,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "forks_count": 0,
        "open_issues_count": 0,
    }
    if role is not None:
        body["permissions"] = permissions(role)
    if repo.fork_of is not None:
        body["fork"] = True
        if family:
            source = repo.fork_of
            while source.fork_of is not None:
                source = source.fork_of
            body["parent"] = repository(repo.fork_of, None, family=False)
            body["source"] = repository(source, None, family=False)
    return body


def collaborator(user: User, role: str) -> dict:
    return simple_user(user) | {"permissions": permissions(role), "role_name": role}


def collaborator_permission(user: User, role: str | None) -> dict:
    """GET /repos/{o}/{r}/collaborators/{u}/permission: the role, and GitHub's legacy name."""
    return {
        "permission": LEGACY_PERMISSION[role] if role else "none",
        "role_name": role or "none",
        "user": collaborator(user, role) if role else simple_user(user),
    }


def invitation(repo: Repository, role: str, invitee: User, inviter: User, viewer_role) -> dict:
    """The answer to adding a new collaborator (forge adds at once; GitHub invites)."""
    return {
        "id": invitee.id,
        "node_id": f"RI_{repo.id}_{invitee.id}",
        "repository": repository(repo, viewer_role),
        "invitee": simple_user(invitee),
        "inviter": simple_user(inviter),
        "permissions": role,
        "created_at": timestamp(repo.updated_at),
        "url": api_url(f"/repos/{repo.full_name}/collaborators/{invitee.name}"),
        "html_url": external_url(f"/{repo.full_name}/settings"),
        "expired": False,
    }


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


def branch_detail(repo: Repository, item, rule) -> dict:
    body = branch(repo, item)
    body["_links"] = {
        "self": api_url(f"/repos/{repo.full_name}/branches/{item.name}"),
        "html": external_url(f"/{repo.full_name}/tree/{item.name}"),
    }
    if rule is not None:
        body["protection"] = protection(repo, rule)
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
        "avatar_url": "",
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


# --- pull requests (forge's changes), reviews and comments ---------------------------------


def _pull_urls(change) -> tuple[str, str]:
    full_name = change.repository.full_name
    return (
        api_url(f"/repos/{full_name}/pulls/{change.number}"),
        external_url(f"/{full_name}/pull/{change.number}"),
    )


def _pull_end(label_owner: str, ref: str, sha: str, user: User, repo) -> dict:
    return {
        "label": f"{label_owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": simple_user(user),
        "repo": repository(repo, None) if repo is not None else None,
    }


def pull_head(change) -> dict:
    """Where the commits come from: a branch here or in a fork, or, for a change uploaded to
    refs/for/BRANCH, the change's own ref (pull/N/head) in the target repository."""
    if change.head_branch is None:
        base = change.repository
        return _pull_end(base.owner.name, f"pull/{change.number}/head", change.head_sha,
                         change.author, base)  # fmt: skip
    source = change.head_repository
    owner = source.owner if source is not None else change.author
    return _pull_end(owner.name, change.head_branch, change.head_sha, owner, source)


def pull_request(
    change,
    *,
    stats=None,
    merge_state=None,
    comments: int | None = None,
    review_comments: int | None = None,
) -> dict:
    """A change as GitHub's pull request. The counts and mergeability cost a diff or a merge
    check, so (like GitHub) only the single-pull answers carry them."""
    repo = change.repository
    url, html_url = _pull_urls(change)
    issue_url = api_url(f"/repos/{repo.full_name}/issues/{change.number}")
    body = {
        "id": change.id,
        "node_id": f"PR_{change.id}",
        "number": change.number,
        "state": "open" if change.state == "open" else "closed",
        "locked": False,
        "title": change.title,
        "body": change.description or None,
        "user": simple_user(change.author),
        "head": pull_head(change),
        "base": _pull_end(
            repo.owner.name,
            change.base_branch,
            change.current_patch_set.base_sha,
            repo.owner,
            repo,
        ),
        "merged": change.state == "merged",
        "merged_at": timestamp(change.merged_at),
        "merged_by": simple_user(change.merged_by) if change.merged_by else None,
        "merge_commit_sha": change.merge_commit_sha,
        "html_url": html_url,
        "url": url,
        "diff_url": html_url + ".diff",
        "patch_url": html_url + ".patch",
        "issue_url": issue_url,
        "comments_url": issue_url + "/comments",
        "review_comments_url": url + "/comments",
        "review_comment_url": api_url(f"/repos/{repo.full_name}/pulls/comments{{/number}}"),
        "commits_url": url + "/commits",
        "statuses_url": api_url(f"/repos/{repo.full_name}/statuses/{change.head_sha}"),
        "created_at": timestamp(change.created_at),
        "updated_at": timestamp(change.updated_at),
        "closed_at": timestamp(change.closed_at),
        "draft": False,
        "maintainer_can_modify": False,
        "author_association": "NONE",
        "labels": [],
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "milestone": None,
        "active_lock_reason": None,
        "auto_merge": auto_merge(change),
        "_links": {
            "self": {"href": url},
            "html": {"href": html_url},
            "issue": {"href": issue_url},
            "comments": {"href": issue_url + "/comments"},
            "review_comments": {"href": url + "/comments"},
            "commits": {"href": url + "/commits"},
            "statuses": {"href": api_url(f"/repos/{repo.full_name}/statuses/{change.head_sha}")},
        },
    }
    if stats is not None:
        body |= {
            "commits": stats.commits,
            "additions": stats.additions,
            "deletions": stats.deletions,
            "changed_files": stats.changed_files,
        }
    if comments is not None:
        body |= {"comments": comments, "review_comments": review_comments or 0}
    if merge_state is not None or stats is not None:
        body |= {"rebaseable": None, "mergeable": None, "mergeable_state": "unknown"}
    if merge_state is not None:
        dirty = bool(merge_state.conflicts)
        body |= {
            "mergeable": merge_state.mergeable if change.state == "open" else None,
            "rebaseable": merge_state.mergeable if change.state == "open" else None,
            "mergeable_state": "clean"
            if merge_state.mergeable
            else ("dirty" if dirty else "unknown"),
        }
    return body


def merge_result(sha: str) -> dict:
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


def queued_merge_result(change, position: int | None) -> dict:
    """A merge asked for while the branch's merge queue is on: queued, not merged yet."""
    return {
        "sha": None,
        "merged": False,
        "message": f"Pull Request #{change.number} was added to the merge queue of "
        f"{change.base_branch} at position {position}",
    }


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


def _person_time(person) -> str:
    return timestamp(datetime.fromtimestamp(person.time, UTC))


def commit(repo: Repository, info, people: dict, detail=None) -> dict:
    """A commit as GET /repos/{o}/{r}/commits/{sha} answers it; `people` maps lower-cased
    email addresses to forge accounts (GitHub names the account a commit's email belongs to);
    `detail` (files and stats) only for the single-commit answer."""
    url = api_url(f"/repos/{repo.full_name}/commits/{info.sha}")
    git_url = api_url(f"/repos/{repo.full_name}/git/commits/{info.sha}")

    def git_person(person) -> dict:
        return {"name": person.name, "email": person.email, "date": _person_time(person)}

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
            "verification": {"verified": False, "reason": "unsigned"},
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


def issue_comment(change, comment) -> dict:
    """A comment in a change's conversation, as GitHub's issue comment."""
    full_name = change.repository.full_name
    _url, html_url = _pull_urls(change)
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": api_url(f"/repos/{full_name}/issues/comments/{comment.id}"),
        "html_url": f"{html_url}#issuecomment-{comment.id}",
        "issue_url": api_url(f"/repos/{full_name}/issues/{change.number}"),
        "body": comment.body,
        "user": simple_user(comment.author),
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
        "author_association": "NONE",
    }


def review(change, row) -> dict:
    url, html_url = _pull_urls(change)
    return {
        "id": row.id,
        "node_id": f"PRR_{row.id}",
        "user": simple_user(row.author),
        "body": row.body,
        "state": row.state,
        "commit_id": row.commit_sha,
        "html_url": f"{html_url}#pullrequestreview-{row.id}",
        "pull_request_url": url,
        "submitted_at": timestamp(row.submitted_at),
        "author_association": "NONE",
        "_links": {"html": {"href": html_url}, "pull_request": {"href": url}},
    }


def review_comment(change, row) -> dict:
    """An inline comment on a line of a change's diff (GitHub's pull request review comment);
    `position` is the line, as forge keeps no diff positions."""
    url, html_url = _pull_urls(change)
    self_url = api_url(f"/repos/{change.repository.full_name}/pulls/comments/{row.id}")
    return {
        "id": row.id,
        "node_id": f"PRRC_{row.id}",
        "url": self_url,
        "pull_request_review_id": row.review_id,
        "diff_hunk": "",
        "path": row.path,
        "position": row.line,
        "original_position": row.original_line,
        "line": row.line,
        "original_line": row.original_line,
        "side": row.side,
        "start_line": None,
        "original_start_line": None,
        "start_side": None,
        "subject_type": "line",
        "commit_id": row.commit_sha,
        "original_commit_id": row.original_commit_sha,
        "in_reply_to_id": row.in_reply_to_id,
        "user": simple_user(row.author),
        "body": row.body,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "html_url": f"{html_url}#discussion_r{row.id}",
        "pull_request_url": url,
        "author_association": "NONE",
        "_links": {
            "self": {"href": self_url},
            "html": {"href": f"{html_url}#discussion_r{row.id}"},
            "pull_request": {"href": url},
        },
    }


def notification(row) -> dict:
    """An inbox entry as GitHub's notification thread (every one is about a pull request)."""
    change = row.change
    url, _html = _pull_urls(change)
    thread = api_url(f"/notifications/threads/{row.id}")
    return {
        "id": str(row.id),
        "unread": not row.read,
        "reason": row.reason,
        "updated_at": timestamp(row.created_at),
        "last_read_at": None,
        "subject": {
            "title": change.title,
            "url": url,
            "latest_comment_url": url,
            "type": "PullRequest",
        },
        "repository": repository(change.repository, None),
        "url": thread,
        "subscription_url": thread + "/subscription",
    }


# --- webhooks: hooks, deliveries and the payloads of events ----------------------------------


def hook_api_path(row) -> str:
    """Where a hook lives in the API: under its repository, or /admin/hooks for system hooks."""
    if row.repository is None:
        return f"/admin/hooks/{row.id}"
    return f"/repos/{row.repository.full_name}/hooks/{row.id}"


def hook(row, last=None) -> dict:
    """A repository webhook, or a system hook (GitHub Enterprise's global webhook); the secret
    is never shown, only that there is one."""
    url = api_url(hook_api_path(row))
    config = {
        "content_type": row.content_type,
        "insecure_ssl": "1" if row.insecure_ssl else "0",
        "url": row.url,
    }
    if row.secret:
        config["secret"] = "********"
    return {
        "type": "Global" if row.repository is None else "Repository",
        "id": row.id,
        "name": "web",
        "active": row.active,
        "events": row.event_list,
        "config": config,
        "updated_at": timestamp(row.updated_at),
        "created_at": timestamp(row.created_at),
        "url": url,
        "test_url": url + "/test",
        "ping_url": url + "/pings",
        "deliveries_url": url + "/deliveries",
        "last_response": _last_response(last),
    }


def _last_response(delivery) -> dict:
    if delivery is None or not delivery.attempts:
        return {"code": None, "status": "unused", "message": None}
    latest = delivery.attempts[-1]
    return {
        "code": latest.status_code,
        "status": "active" if delivery.status == "delivered" else "failed",
        "message": latest.error or None,
    }


def _delivery_status(delivery) -> tuple[str, int]:
    if not delivery.attempts:
        return "Pending", 0
    latest = delivery.attempts[-1]
    if latest.status_code is None:
        return latest.error or "Failed", 0
    if 200 <= latest.status_code < 300:
        return "OK", latest.status_code
    return f"Invalid HTTP Response: {latest.status_code}", latest.status_code


def hook_delivery(delivery, repository_id: int) -> dict:
    status, code = _delivery_status(delivery)
    latest = delivery.attempts[-1] if delivery.attempts else None
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": timestamp(latest.started_at if latest else delivery.created_at),
        "redelivery": delivery.redelivery,
        "duration": (latest.duration_ms / 1000) if latest else 0,
        "status": status,
        "status_code": code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": None,
        "repository_id": repository_id,
        "throttled_at": None,
        # forge's own: where the delivery stands (pending, delivered, failed), how many tries.
        "state": delivery.status,
        "attempt_count": len(delivery.attempts),
    }


def hook_delivery_detail(delivery, hook_row) -> dict:
    import json

    latest = delivery.attempts[-1] if delivery.attempts else None
    return hook_delivery(delivery, hook_row.repository_id) | {
        "url": hook_row.url,
        "request": {
            "headers": json.loads(delivery.request_headers or "{}"),
            "payload": json.loads(delivery.payload),
        },
        "response": {
            "headers": json.loads(latest.response_headers) if latest else {},
            "payload": latest.response_body if latest else None,
        },
        "attempts": [
            {
                "number": a.number,
                "started_at": timestamp(a.started_at),
                "duration": a.duration_ms / 1000,
                "status_code": a.status_code,
                "error": a.error or None,
                "response": {"headers": json.loads(a.response_headers), "payload": a.response_body},
            }
            for a in delivery.attempts
        ],
    }


ZEN = "Keep it logically awesome."


def ping_event(row, sender: User) -> dict:
    body = {"zen": ZEN, "hook_id": row.id, "hook": hook(row)}
    if row.repository is not None:
        body["repository"] = repository(row.repository, None)
    return body | {"sender": simple_user(sender)}


def _git_person(person, user: User | None = None) -> dict:
    body = {"name": person.name, "email": person.email}
    if user is not None:
        body["username"] = user.name
    return body


def push_event(repo: Repository, update, forced: bool, commits: list, pusher: User | None):
    """GitHub's push payload: `update` is the RefUpdate, `commits` forge.git.pushlog's list."""
    full_name = repo.full_name
    zero = "0" * 40

    def commit_json(c) -> dict:
        return {
            "id": c.sha,
            "tree_id": None,
            "distinct": True,
            "message": c.message,
            "timestamp": _person_time(c.committer),
            "url": external_url(f"/{full_name}/commit/{c.sha}"),
            "author": _git_person(c.author),
            "committer": _git_person(c.committer),
            "added": c.added,
            "removed": c.removed,
            "modified": c.modified,
        }

    listed = [commit_json(c) for c in commits]
    if update.new == zero:
        compare = external_url(f"/{full_name}/compare/{update.old[:12]}...{update.old[:12]}")
    elif update.old == zero:
        compare = external_url(f"/{full_name}/commit/{update.new}")
    else:
        compare = external_url(f"/{full_name}/compare/{update.old[:12]}...{update.new[:12]}")
    return {
        "ref": update.ref,
        "before": update.old,
        "after": update.new,
        "created": update.old == zero,
        "deleted": update.new == zero,
        "forced": forced,
        "base_ref": None,
        "compare": compare,
        "commits": listed,
        "head_commit": listed[-1] if listed else None,
        "repository": repository_in_push(repo),
        "pusher": {"name": pusher.name, "email": pusher.email}
        if pusher
        else {"name": "forge", "email": None},
        "sender": simple_user(pusher) if pusher else None,
    }


def repository_in_push(repo: Repository) -> dict:
    """Push payloads also carry `master_branch` and timestamps as numbers (as GitHub does)."""
    body = repository(repo, None)
    body["master_branch"] = repo.default_branch
    return body


def ref_event(repo: Repository, ref: str, ref_type: str, sender: User | None, created: bool):
    """GitHub's create and delete payloads (`ref` is the short name)."""
    body = {
        "ref": ref,
        "ref_type": ref_type,
        "pusher_type": "user",
        "repository": _repo_payload(repo),
        "sender": simple_user(sender) if sender else None,
    }
    if created:
        body |= {"master_branch": repo.default_branch, "description": repo.description or None}
    return body


def _repo_payload(repo: Repository) -> dict:
    return repository(repo, None)


def pull_request_event(change, action: str, sender: User, **extra) -> dict:
    """`extra`: `changes` for edited, `before`/`after` for synchronize."""
    return {
        "action": action,
        "number": change.number,
        "pull_request": pull_request(change),
        **extra,
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender),
    }


def pull_request_review_event(change, row, sender: User) -> dict:
    return {
        "action": "submitted",
        "review": review(change, row),
        "pull_request": pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender),
    }


def pull_request_review_comment_event(change, row, sender: User) -> dict:
    return {
        "action": "created",
        "comment": review_comment(change, row),
        "pull_request": pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender),
    }


def issue_of_change(change) -> dict:
    """A change seen as GitHub's issue (every pull request is one), for issue_comment."""
    pull = pull_request(change)
    full_name = change.repository.full_name
    return {
        "url": pull["issue_url"],
        "repository_url": api_url(f"/repos/{full_name}"),
        "comments_url": pull["comments_url"],
        "html_url": pull["html_url"],
        "id": change.id,
        "node_id": f"I_{change.id}",
        "number": change.number,
        "title": change.title,
        "user": pull["user"],
        "labels": [],
        "state": pull["state"],
        "locked": False,
        "assignee": None,
        "assignees": [],
        "comments": 0,
        "created_at": pull["created_at"],
        "updated_at": pull["updated_at"],
        "closed_at": pull["closed_at"],
        "body": pull["body"],
        "author_association": "NONE",
        "pull_request": {
            "url": pull["url"],
            "html_url": pull["html_url"],
            "diff_url": pull["diff_url"],
            "patch_url": pull["patch_url"],
            "merged_at": pull["merged_at"],
        },
    }


def issue_comment_event(change, comment, sender: User) -> dict:
    return {
        "action": "created",
        "issue": issue_of_change(change),
        "comment": issue_comment(change, comment),
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender),
    }


def status_event(repo: Repository, row, sender: User) -> dict:
    body = status(repo, row)
    return {
        "id": row.id,
        "sha": row.sha,
        "name": repo.full_name,
        "target_url": body["target_url"],
        "context": row.context,
        "description": body["description"],
        "state": row.state,
        "commit": {
            "sha": row.sha,
            "url": api_url(f"/repos/{repo.full_name}/commits/{row.sha}"),
            "html_url": external_url(f"/{repo.full_name}/commit/{row.sha}"),
        },
        "branches": [],
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "repository": _repo_payload(repo),
        "sender": simple_user(sender),
    }


def vote_event(change, vote, sender: User | None, action: str) -> dict:
    """forge's `vote` event: a vote on one of a change's labels was cast, changed or removed.
    `stale` says the vote is on an older patch set than the change's current one."""
    return {
        "action": action,
        "vote": {
            "user": simple_user(vote.user),
            "label": vote.label,
            "value": vote.value,
            "message": vote.message or "",
            "patch_set": vote.patch_set_number,
            "stale": vote.patch_set_number != change.current_patch_set.number,
        },
        "pull_request": pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender) if sender else None,
    }


def merge_queue_event(change, entry, sender: User | None, action: str, position=None) -> dict:
    """forge's `merge_queue` event: a change entered its branch's merge queue, is being tested
    there, was merged, ejected or removed. `position` (1 = next) only while it waits."""
    body = {
        "id": entry.id,
        "branch": entry.branch,
        "state": entry.state,
        "method": entry.method,
        "base_sha": entry.base_sha,
        "head_sha": entry.speculative_sha,
        "reason": entry.reason or None,
        "created_at": timestamp(entry.created_at),
    }
    if position is not None:
        body["position"] = position
    return {
        "action": action,
        "merge_queue_entry": body,
        "pull_request": pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": simple_user(sender) if sender else None,
    }


# --- the API itself ---------------------------------------------------------------------------


def rate_limit(state) -> dict:
    """GET /rate_limit: where the caller stands; forge has one limit, GitHub's `core`."""
    entry = {
        "limit": state.limit,
        "used": state.used,
        "remaining": state.remaining,
        "reset": state.reset,
        "resource": state.resource,
    }
    return {"resources": {state.resource: entry}, "rate": entry}


# --- votes and the quality gate (forge's extension of the API) ------------------------------


def vote(view) -> dict:
    """One vote (forge.gate.votes.VoteView); `user` is the voter's login ("forge-ci" for
    the Verified forge's CI computes from the ci/* statuses)."""
    return {
        "user": view.user,
        "label": view.label,
        "value": view.value,
        "weight": view.weight,
        "reason": view.reason,
        "advisory": view.advisory,
        "approver": view.approver,
        "stale": view.stale,
        "counted": view.counted,
        "patch_set": view.patch_set,
        "message": view.message,
        "via": view.via,
        "note": view.note,
        "updated_at": timestamp(view.at),
    }


def submit_status(status) -> dict:
    return {
        "ready": status.ready,
        "unmet": list(status.unmet),
        "enabled": status.enabled,
        "verified_required": status.verified_required,
        "requirements": [
            {"name": r.name, "met": r.met, "summary": r.summary} for r in status.requirements
        ],
    }


def votes_answer(views: list, status) -> dict:
    return {"votes": [vote(v) for v in views], "submit": submit_status(status)}


def label(row) -> dict:
    return {
        "name": row.name,
        "description": row.description,
        "min": row.min_value,
        "max": row.max_value,
        "function": row.function,
        "copy_values": sorted(int(v) for v in row.copy_values.split(",") if v.strip()),
    }


def quality_gate(gate, labels: list) -> dict:
    return {
        "enabled": gate.enabled,
        "quorum": gate.quorum,
        "require_verified": gate.require_verified,
        "auto_submit": gate.auto_submit,
        "community_quorum": gate.community_quorum,
        "labels": [label(row) for row in labels],
    }


def trust(user, repo, who, vouches: dict[str, float]) -> dict:
    """A person's trust in a repository (forge.accounts.trust.Trust): what their vote weighs
    there and why."""
    return {
        "user": user.name,
        "repository": repo.full_name,
        "weight": who.weight,
        "reason": who.reason,
        "role": who.role,
        "granted": who.granted,
        "earned": who.earned,
        "lent": who.lent,
        "approver": who.approver,
        "sources": [{"user": name, "amount": amount} for name, amount in who.sources],
        "vouches": [{"user": name, "amount": amount} for name, amount in vouches.items()],
    }


# --- review queue and reputation (forge's own) --------------------------------------------------


def review_queue_item(item) -> dict:
    """A change in a reviewer's queue: GitHub's pull request, and how much it needs review."""
    return pull_request(item.change) | {
        "qualified_votes": item.qualified_votes,
        "claimed_by": simple_user(item.claimed_by) if item.claimed_by else None,
        "claim_expires_at": timestamp(item.claim_expires_at),
    }


def review_claim(change, claim) -> dict:
    return {
        "pull_request": _pull_urls(change)[0],
        "number": change.number,
        "claimed_by": simple_user(claim.user),
        "claim_expires_at": timestamp(claim.expires_at),
    }


def reputation_event(item) -> dict:
    """One step of a user's reputation; in a repository the viewer cannot read, only the
    number and the date show (an audit's words only to those `reputation.history` allows)."""
    event = item.event
    body = {"delta": event.delta, "kind": item.kind, "at": timestamp(event.created_at)}
    if not item.visible:
        return body | {"reason": "in a repository you cannot see", "repository": None,
                       "change": None}  # fmt: skip
    repo, change = item.repository, item.change
    return body | {
        "reason": item.reason,
        "repository": repo.full_name if repo is not None else None,
        "change": change.number if change is not None else None,
    }


def reputation(summary, history: list) -> dict:
    return {
        "reputation": summary.reputation,
        "accuracy": summary.accuracy,
        "settled_votes": summary.settled,
        "history": [reputation_event(item) for item in history],
    }


# --- the merge queue --------------------------------------------------------------------------


def auto_merge(change) -> dict | None:
    """GitHub's `auto_merge` of a pull request: who enabled it and how it will merge."""
    if change.auto_merge_method is None:
        return None
    return {
        "enabled_by": simple_user(change.auto_merge_by) if change.auto_merge_by else None,
        "merge_method": change.auto_merge_method,
        "commit_title": None,
        "commit_message": None,
    }


def merge_queue_entry(entry, position: int | None) -> dict:
    """One entry of a branch's merge queue (forge's extension); `position` 1 is next to land,
    None once it left the queue. `head_sha` is the speculative merge CI tests, `base_sha`
    what it was built on."""
    change, run = entry.change, entry.ci_run_id
    repo = change.repository
    url, html_url = _pull_urls(change)
    return {
        "id": entry.id,
        "position": position,
        "branch": entry.branch,
        "state": entry.state,
        "merge_method": entry.method,
        "reason": entry.reason or None,
        "bypass": entry.bypass,
        "base_sha": entry.base_sha,
        "head_sha": entry.speculative_sha,
        "ci_run_id": run,
        "ci_run_url": external_url(f"/{repo.full_name}/actions/runs/{run}") if run else None,
        "enqueued_by": simple_user(entry.enqueued_by) if entry.enqueued_by else None,
        "enqueued_at": timestamp(entry.created_at),
        "updated_at": timestamp(entry.updated_at),
        "pull_request": {
            "number": change.number,
            "title": change.title,
            "url": url,
            "html_url": html_url,
            "head_sha": change.head_sha,
        },
    }


def auto_merge_answer(change, entry, position: int | None = None) -> dict:
    """PUT .../auto-merge: the pull request's `auto_merge`, and its queue entry if it
    entered at once (it was submittable already)."""
    return {
        "auto_merge": auto_merge(change),
        "merge_queue_entry": merge_queue_entry(entry, position) if entry is not None else None,
    }


# --- Actions: CI runs and their jobs (GitHub's workflow runs and workflow jobs) -------------

# forge's run and job states -> GitHub's `status`, and for finished ones its `conclusion`.
# A run held for a maintainer's approval is "waiting" (GitHub's word for a run waiting on a
# review); an errored run that never got jobs (a malformed .forge/ci.yml) is a startup_failure.
ACTIONS_STATUS = {"waiting": "waiting", "queued": "queued", "running": "in_progress"}
ACTIONS_CONCLUSION = {
    "passed": "success",
    "failed": "failure",
    "errored": "failure",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
}
ACTIONS_EVENT = {"push": "push", "change": "pull_request", "merge_queue": "merge_group"}


def _actions_status(state: str) -> tuple[str, str | None]:
    if state in ACTIONS_STATUS:
        return ACTIONS_STATUS[state], None
    return "completed", ACTIONS_CONCLUSION.get(state, "failure")


def workflow_run(run, change=None, started_at=None) -> dict:
    repo = run.repository
    url = api_url(f"/repos/{repo.full_name}/actions/runs/{run.id}")
    status, conclusion = _actions_status(run.state)
    if run.state == "errored" and not run.jobs:
        conclusion = "startup_failure"
    pulls = []
    if change is not None:
        pulls.append(
            {
                "id": change.id,
                "number": change.number,
                "url": api_url(f"/repos/{repo.full_name}/pulls/{change.number}"),
                "head": {"ref": change.head_branch, "sha": change.head_sha, "repo": None},
                "base": {"ref": change.base_branch, "sha": None, "repo": None},
            }
        )
    title = change.title if change is not None else f"{run.ref or run.sha[:7]}"
    actor = simple_user(run.actor) if run.actor is not None else None
    return {
        "id": run.id,
        "name": "CI",
        "node_id": f"WFR_{run.id}",
        "head_branch": run.ref,
        "head_sha": run.sha,
        "path": ".forge/ci.yml",
        "display_title": title,
        "run_number": run.id,
        "event": ACTIONS_EVENT.get(run.event, run.event),
        "status": status,
        "conclusion": conclusion,
        "workflow_id": repo.id,
        "check_suite_id": None,
        "url": url,
        "html_url": external_url(f"/{repo.full_name}/actions/runs/{run.id}"),
        "pull_requests": pulls,
        "created_at": timestamp(run.created_at),
        "updated_at": timestamp(run.updated_at),
        "actor": actor,
        "triggering_actor": actor,
        "run_attempt": run.attempt,
        "run_started_at": timestamp(started_at or run.created_at),
        "jobs_url": url + "/jobs",
        "logs_url": url + "/logs",
        "check_suite_url": None,
        "cancel_url": url + "/cancel",
        "rerun_url": url + "/rerun",
        "head_commit": None,
        "repository": repository(repo, None, family=False),
        "head_repository": repository(repo, None, family=False),
    }


def workflow_job(job) -> dict:
    run = job.run
    repo = run.repository
    status, conclusion = _actions_status(job.state)
    run_url = api_url(f"/repos/{repo.full_name}/actions/runs/{run.id}")
    host = job.runner.partition(":")[0]
    return {
        "id": job.id,
        "run_id": run.id,
        "run_url": run_url,
        "run_attempt": job.attempt,
        "node_id": f"WFJ_{job.id}",
        "head_sha": run.sha,
        "head_branch": run.ref,
        "url": api_url(f"/repos/{repo.full_name}/actions/jobs/{job.id}"),
        "html_url": external_url(f"/{repo.full_name}/actions/runs/{run.id}#job-{job.id}"),
        "status": status,
        "conclusion": conclusion,
        "created_at": timestamp(run.created_at),
        "started_at": timestamp(job.started_at),
        "completed_at": timestamp(job.finished_at),
        "name": job.name,
        "steps": [],
        "check_run_url": None,
        "labels": ["forge-sandbox" if job.sandboxed else "forge-unsandboxed"],
        "runner_id": None,
        "runner_name": host or None,
        "runner_group_id": None,
        "runner_group_name": None,
        "workflow_name": "CI",
    }
