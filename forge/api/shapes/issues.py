"""Issues, their comments, labels, milestones, events, timeline and reactions as GitHub's REST
API shows them, and as its `issues`, `issue_comment`, `label` and `milestone` webhooks carry
them.

An issue comment's API id is its row id plus `COMMENT_ID_BASE`: GitHub has one id space for
the comments of issues and of pull requests (both under /issues/comments/{id}), forge keeps
them in two tables, so the issue comments' ids are moved above any change comment's.
"""

from __future__ import annotations

from forge.api.shapes import text
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.users import simple_user
from forge.api.shapes.webhook_objects import (
    ISSUE_COMMENT_FIELDS,
    ISSUE_FIELDS,
    _fit,
    _user_fit,
    webhook_repository,
    webhook_user,
)
from forge.models import Issue, IssueComment, IssueEvent, IssueLabel, Milestone, Reaction
from forge.models.issues import REACTIONS

COMMENT_ID_BASE = 1_000_000_000


def comment_api_id(comment: IssueComment) -> int:
    return COMMENT_ID_BASE + comment.id


def _issue_url(issue: Issue) -> str:
    return api_url(f"/repos/{issue.repository.full_name}/issues/{issue.number}")


def html_url(issue: Issue) -> str:
    return external_url(f"/{issue.repository.full_name}/issues/{issue.number}")


def reactions(url: str, counts: dict[str, int] | None) -> dict:
    counts = counts or {}
    found = {kind: counts.get(kind, 0) for kind in REACTIONS}
    return {"url": url, "total_count": sum(found.values()), **found}


def label(row: IssueLabel, repo_full_name: str) -> dict:
    return {
        "id": row.id,
        "node_id": f"LA_{row.id}",
        "url": api_url(f"/repos/{repo_full_name}/labels/{row.name}"),
        "name": row.name,
        "color": row.color,
        "default": False,
        "description": row.description or None,
    }


def milestone(row: Milestone, repo_full_name: str, open_issues: int, closed_issues: int) -> dict:
    url = api_url(f"/repos/{repo_full_name}/milestones/{row.number}")
    return {
        "url": url,
        "html_url": external_url(f"/{repo_full_name}/milestone/{row.number}"),
        "labels_url": url + "/labels",
        "id": row.id,
        "node_id": f"MI_{row.id}",
        "number": row.number,
        "state": row.state,
        "title": row.title,
        "description": row.description or None,
        "creator": simple_user(row.creator) if row.creator is not None else None,
        "open_issues": open_issues,
        "closed_issues": closed_issues,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "closed_at": timestamp(row.closed_at) if row.closed_at else None,
        "due_on": timestamp(row.due_on) if row.due_on else None,
    }


def issue(
    row: Issue,
    *,
    comments: int,
    reaction_counts: dict | None = None,
    milestone_counts: tuple[int, int] = (0, 0),
) -> dict:
    repo = row.repository
    full_name = repo.full_name
    url = _issue_url(row)
    assignees = [simple_user(u) for u in row.assignees]
    return {
        "id": row.id,
        "node_id": f"I_{row.id}",
        "url": url,
        "repository_url": api_url(f"/repos/{full_name}"),
        "labels_url": url + "/labels{/name}",
        "comments_url": url + "/comments",
        "events_url": url + "/events",
        "html_url": html_url(row),
        "number": row.number,
        "state": row.state,
        "state_reason": row.state_reason,
        "title": row.title,
        **text.body(row.body, repo, repo.default_branch, nullable=True),
        "user": simple_user(row.author),
        "labels": [label(lb, full_name) for lb in row.labels],
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": milestone(row.milestone, full_name, *milestone_counts)
        if row.milestone is not None
        else None,
        "locked": row.locked,
        "active_lock_reason": row.lock_reason if row.locked else None,
        "comments": comments,
        "closed_at": timestamp(row.closed_at) if row.closed_at else None,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "closed_by": simple_user(row.closed_by) if row.closed_by is not None else None,
        "author_association": "NONE",
        "reactions": reactions(url + "/reactions", reaction_counts),
        "timeline_url": url + "/timeline",
        "performed_via_github_app": None,
    }


def comment(row: IssueComment, reaction_counts: dict | None = None) -> dict:
    issue_row = row.issue
    repo = issue_row.repository
    api_id = comment_api_id(row)
    url = api_url(f"/repos/{repo.full_name}/issues/comments/{api_id}")
    return {
        "id": api_id,
        "node_id": f"IC_{api_id}",
        "url": url,
        "html_url": f"{html_url(issue_row)}#issuecomment-{api_id}",
        "issue_url": _issue_url(issue_row),
        **text.body(row.body, repo, repo.default_branch),
        "user": simple_user(row.author),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "author_association": "NONE",
        "reactions": reactions(url + "/reactions", reaction_counts),
        "performed_via_github_app": None,
    }


def reaction(row: Reaction) -> dict:
    return {
        "id": row.id,
        "node_id": f"REA_{row.id}",
        "user": simple_user(row.user),
        "content": row.content,
        "created_at": timestamp(row.created_at),
    }


def event(row: IssueEvent, issue_json: dict | None = None) -> dict:
    """One of an issue's events as GET /issues/{n}/events and /issues/events/{id} show it."""
    issue_row = row.issue
    full_name = issue_row.repository.full_name
    body = {
        "id": row.id,
        "node_id": f"IE_{row.id}",
        "url": api_url(f"/repos/{full_name}/issues/events/{row.id}"),
        "actor": simple_user(row.actor) if row.actor is not None else None,
        "event": row.event,
        "commit_id": row.commit_id,
        "commit_url": api_url(f"/repos/{full_name}/commits/{row.commit_id}")
        if row.commit_id
        else None,
        "created_at": timestamp(row.created_at),
        "performed_via_github_app": None,
    }
    if row.event in ("labeled", "unlabeled"):
        body["label"] = {"name": row.label_name, "color": row.label_color}
    if row.event in ("assigned", "unassigned") and row.assignee is not None:
        body["assignee"] = simple_user(row.assignee)
        body["assigner"] = body["actor"]
    if row.event in ("milestoned", "demilestoned"):
        body["milestone"] = {"title": row.milestone_title}
    if row.event == "renamed":
        body["rename"] = {"from": row.rename_from, "to": row.rename_to}
    if row.event == "locked":
        body["lock_reason"] = row.lock_reason
    if row.event in ("closed", "reopened"):
        body["state_reason"] = row.state_reason
    if issue_json is not None:
        body["issue"] = issue_json
    return body


def cross_reference(row: IssueEvent, source_issue_json: dict) -> dict:
    """A timeline's cross-referenced event: the issue (or pull request) that mentioned this."""
    return {
        "event": "cross-referenced",
        "actor": simple_user(row.actor) if row.actor is not None else None,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.created_at),
        "source": {"type": "issue", "issue": source_issue_json},
    }


def timeline_comment(row: IssueComment, reaction_counts: dict | None = None) -> dict:
    return {
        **comment(row, reaction_counts),
        "event": "commented",
        "actor": simple_user(row.author),
    }


# --- webhooks --------------------------------------------------------------------------------

WEBHOOK_ISSUE_FIELDS = ISSUE_FIELDS + ("state_reason",)


def webhook_issue(body: dict) -> dict:
    """An issue's REST shape fitted to the webhook schema's `issue`."""
    return _fit(body | {"user": _user_fit(body["user"]), "draft": False}, WEBHOOK_ISSUE_FIELDS)


def _webhook_milestone(body: dict | None) -> dict | None:
    if body is None:
        return None
    return body | {"creator": _user_fit(body["creator"])}


def _webhook_issue_json(body: dict) -> dict:
    fitted = webhook_issue(body)
    fitted["assignees"] = [_user_fit(u) for u in body["assignees"]]
    fitted["assignee"] = _user_fit(body["assignee"])
    fitted["milestone"] = _webhook_milestone(body["milestone"])
    return fitted


def issues_event(issue_body: dict, repo, sender, action: str, extra: dict) -> dict:
    """GitHub's `issues` event; `extra` names the label, assignee or milestone of the action,
    or the `changes` of an edit."""
    payload = {"action": action, "issue": _webhook_issue_json(issue_body)}
    full_name = repo.full_name
    if "label" in extra:
        payload["label"] = label(extra["label"], full_name)
    if "assignee" in extra:
        payload["assignee"] = webhook_user(extra["assignee"])
    if "milestone" in extra:
        payload["milestone"] = _webhook_milestone(extra["milestone_json"])
    if action == "edited":
        payload["changes"] = extra.get("changes", {})
    return payload | {"repository": webhook_repository(repo), "sender": webhook_user(sender)}


def issue_comment_event(issue_body: dict, comment_row, repo, sender, action, changes) -> dict:
    body = comment(comment_row)
    fitted = _fit(body | {"user": _user_fit(body["user"])}, ISSUE_COMMENT_FIELDS)
    payload = {"action": action, "issue": _webhook_issue_json(issue_body), "comment": fitted}
    if action == "edited":
        payload["changes"] = changes
    return payload | {"repository": webhook_repository(repo), "sender": webhook_user(sender)}


def label_event(row: IssueLabel, repo, sender, action: str, changes: dict) -> dict:
    payload = {"action": action, "label": label(row, repo.full_name)}
    if action == "edited":
        payload["changes"] = changes
    return payload | {"repository": webhook_repository(repo), "sender": webhook_user(sender)}


def milestone_event(milestone_body: dict, repo, sender, action: str, changes: dict) -> dict:
    payload = {"action": action, "milestone": _webhook_milestone(milestone_body)}
    if action == "edited":
        payload["changes"] = changes
    return payload | {"repository": webhook_repository(repo), "sender": webhook_user(sender)}
