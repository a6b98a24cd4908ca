"""The payloads of webhook events, as GitHub sends them: ping, push, create and delete,
pull_request, pull_request_review, pull_request_review_comment, issue_comment and status,
and forge's own vote and merge_queue events. Each builds on the shapes of the resources it
carries; build them inside `links.links_from` to name the forge's base URL."""

from __future__ import annotations

from forge.api.shapes.hooks import hook
from forge.api.shapes.links import external_url, timestamp
from forge.api.shapes.repos import branch, commit, person_time, status
from forge.api.shapes.webhook_objects import (
    webhook_commit,
    webhook_issue,
    webhook_issue_comment,
    webhook_pull_request,
    webhook_repository,
    webhook_review,
    webhook_review_comment,
    webhook_simple_pull_request,
    webhook_user,
)
from forge.models import Repository, User

ZEN = "Keep it logically awesome."


def ping_event(row, sender: User) -> dict:
    body = {"zen": ZEN, "hook_id": row.id, "hook": hook(row)}
    if row.repository is not None:
        body["repository"] = webhook_repository(row.repository)
    return body | {"sender": webhook_user(sender)}


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
            "tree_id": c.tree,
            "distinct": True,
            "message": c.message,
            "timestamp": person_time(c.committer),
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
        "repository": webhook_repository(repo, for_push=True),
        "pusher": {"name": pusher.name, "email": pusher.email}
        if pusher
        else {"name": "forge", "email": None},
        "sender": webhook_user(pusher),
    }


def ref_event(repo: Repository, ref: str, ref_type: str, sender: User | None, created: bool):
    """GitHub's create and delete payloads (`ref` is the short name)."""
    body = {
        "ref": ref,
        "ref_type": ref_type,
        "pusher_type": "user",
        "repository": _repo_payload(repo),
        "sender": webhook_user(sender),
    }
    if created:
        body |= {"master_branch": repo.default_branch, "description": repo.description or None}
    return body


def _repo_payload(repo: Repository) -> dict:
    return webhook_repository(repo)


def pull_request_event(change, action: str, sender: User, counts: dict, **extra) -> dict:
    """`counts`: the pull request's commits, additions, ... (`webhook_pull_request`'s);
    `extra`: `changes` for edited, `before`/`after` for synchronize, the `requested_reviewer`
    (a User) of review_requested and review_request_removed."""
    if isinstance(extra.get("requested_reviewer"), User):
        extra["requested_reviewer"] = webhook_user(extra["requested_reviewer"])
    return {
        "action": action,
        "number": change.number,
        "pull_request": webhook_pull_request(change, **counts),
        **extra,
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
    }


def pull_request_review_event(change, row, sender: User, action: str = "submitted") -> dict:
    """`action`: submitted, or dismissed (the review's state then says so too)."""
    return {
        "action": action,
        "review": webhook_review(change, row),
        "pull_request": webhook_simple_pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
    }


def pull_request_review_comment_event(
    change, row, sender: User, action: str = "created", **changes
) -> dict:
    """`action`: created, edited (with `changes`: the body it had) or deleted."""
    return {
        "action": action,
        **changes,
        "comment": webhook_review_comment(change, row),
        "pull_request": webhook_simple_pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
    }


def issue_comment_event(
    change, comment, sender: User, comments: int, action: str = "created", **changes
) -> dict:
    """`comments`: how many comments the conversation holds once the action is done;
    `action`: created, edited (with `changes`: the body it had) or deleted."""
    return {
        "action": action,
        **changes,
        "issue": webhook_issue(change, comments),
        "comment": webhook_issue_comment(change, comment),
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
    }


def status_event(
    repo: Repository, row, sender: User | None, info, people: dict, branches: list
) -> dict:
    """A status set by a person, or by forge's CI for whoever its run is for (a run nobody
    started, such as a scheduled one, has no sender: null, never an invented user). `info` is
    the commit (forge.git's CommitInfo), `people` its authors' accounts by e-mail address,
    `branches` (forge.repos.branches' Branch) those holding it."""
    body = status(repo, row)
    return {
        "id": row.id,
        "sha": row.sha,
        "name": repo.full_name,
        "target_url": body["target_url"],
        "context": row.context,
        "description": body["description"],
        "state": row.state,
        "commit": webhook_commit(commit(repo, info, people)),
        "branches": [
            {k: v for k, v in branch(repo, b).items() if k in ("name", "commit", "protected")}
            for b in branches
        ],
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "repository": _repo_payload(repo),
        "sender": webhook_user(sender),
    }


def vote_event(change, vote, sender: User | None, action: str) -> dict:
    """forge's `vote` event: a vote on one of a change's labels was cast, changed or removed.
    `stale` says the vote is on an older patch set than the change's current one."""
    return {
        "action": action,
        "vote": {
            "user": webhook_user(vote.user),
            "label": vote.label,
            "value": vote.value,
            "message": vote.message or "",
            "patch_set": vote.patch_set_number,
            "stale": vote.patch_set_number != change.current_patch_set.number,
        },
        "pull_request": webhook_simple_pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
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
        "pull_request": webhook_simple_pull_request(change),
        "repository": _repo_payload(change.repository),
        "sender": webhook_user(sender),
    }
