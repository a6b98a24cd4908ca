"""Pull requests (forge's changes) and what is said on them: the pull request with its head,
base and `auto_merge`, the answers to a merge, issue comments, reviews and review comments,
and a change seen as GitHub's issue."""

from __future__ import annotations

from forge.api.shapes import text
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.repos import repository
from forge.api.shapes.users import simple_user
from forge.models import User


def pull_urls(change) -> tuple[str, str]:
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
    requested_reviewers: list | None = None,
) -> dict:
    """A change as GitHub's pull request. The counts and mergeability cost a diff or a merge
    check, so (like GitHub) only the single-pull answers carry them."""
    repo = change.repository
    url, html_url = pull_urls(change)
    issue_url = api_url(f"/repos/{repo.full_name}/issues/{change.number}")
    body = {
        "id": change.id,
        "node_id": f"PR_{change.id}",
        "number": change.number,
        "state": "open" if change.state == "open" else "closed",
        "locked": False,
        "title": change.title,
        **text.body(change.description, repo, change.base_branch, nullable=True),
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
        "draft": change.work_in_progress,
        "maintainer_can_modify": False,
        "author_association": "NONE",
        "labels": [],
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [simple_user(u) for u in requested_reviewers or []],
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
            "review_comment": {
                "href": api_url(f"/repos/{repo.full_name}/pulls/comments{{/number}}")
            },
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


def issue_comment(change, comment) -> dict:
    """A comment in a change's conversation, as GitHub's issue comment."""
    full_name = change.repository.full_name
    _url, html_url = pull_urls(change)
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": api_url(f"/repos/{full_name}/issues/comments/{comment.id}"),
        "html_url": f"{html_url}#issuecomment-{comment.id}",
        "issue_url": api_url(f"/repos/{full_name}/issues/{change.number}"),
        **text.body(comment.body, change.repository, change.base_branch),
        "user": simple_user(comment.author),
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
        "author_association": "NONE",
    }


def review(change, row) -> dict:
    url, html_url = pull_urls(change)
    return {
        "id": row.id,
        "node_id": f"PRR_{row.id}",
        "user": simple_user(row.author),
        **text.body(row.body, change.repository, change.base_branch),
        "state": row.state,
        "commit_id": row.commit_sha,
        "html_url": f"{html_url}#pullrequestreview-{row.id}",
        "pull_request_url": url,
        "submitted_at": timestamp(row.submitted_at),
        "author_association": "NONE",
        "_links": {"html": {"href": html_url}, "pull_request": {"href": url}},
    }


def review_comment(change, row, placements: dict | None = None) -> dict:
    """An inline comment on a line of a change's diff (GitHub's pull request review comment).

    `placements` (forge.review.positions.placements of the change) give its `position` in
    the file's diff and the `diff_hunk` down to it; a comment on an earlier patch set is
    outdated there (position null, as GitHub's). Without them `position` is the line."""
    url, html_url = pull_urls(change)
    position, diff_hunk = row.line, ""
    if placements is not None:
        current = row.commit_sha in (change.head_sha, change.current_patch_set.base_sha)
        placed = placements.get((row.path, row.side, row.line)) if current else None
        position = placed.position if placed else None
        diff_hunk = placed.diff_hunk if placed else ""
    self_url = api_url(f"/repos/{change.repository.full_name}/pulls/comments/{row.id}")
    body = {
        "id": row.id,
        "node_id": f"PRRC_{row.id}",
        "url": self_url,
        "pull_request_review_id": row.review_id,
        "diff_hunk": diff_hunk,
        "path": row.path,
        "position": position,
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
        "user": simple_user(row.author),
        **text.body(row.body, change.repository, change.base_branch),
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
    if row.in_reply_to_id is not None:  # GitHub leaves it out of a thread's first comment
        body["in_reply_to_id"] = row.in_reply_to_id
    return body


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
