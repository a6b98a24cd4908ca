"""Labels, assignees and the milestone of an issue (GitHub's issue metadata), set by those who
may triage: each change leaves its timeline event (labeled, unlabeled, assigned, unassigned,
milestoned, demilestoned) and is published for the `issues` webhook. What the names refer to
is checked by forge.issues.tracker, which also sets them when an issue is opened.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.db import utcnow
from forge.errors import NotFound
from forge.issues import inbox
from forge.issues.tracker import (
    announce,
    assignable,
    labels_named,
    milestone_numbered,
    record_event,
)
from forge.models import Issue, IssueLabel, User


def set_labels(
    session: Session, issue: Issue, actor: User, names, *, replace: bool, base_url=None
) -> list[IssueLabel]:
    """Add the labels named (replace: make them the issue's only labels)."""
    require(session, actor, "triage", issue.repository)
    wanted = labels_named(session, issue.repository, names)
    current = list(issue.labels)
    removed = [label for label in current if label not in wanted] if replace else []
    added = [label for label in wanted if label not in current]
    for label in removed:
        remove_label(session, issue, actor, label.name, base_url=base_url)
    for label in added:
        issue.labels.append(label)
        record_event(
            session, issue, actor, "labeled", label_name=label.name, label_color=label.color
        )
        announce(session, issue, actor, "labeled", base_url, label=label)
    issue.updated_at = utcnow()
    return list(issue.labels)


def remove_label(session: Session, issue: Issue, actor: User, name: str, base_url=None) -> None:
    require(session, actor, "triage", issue.repository)
    label = next((lb for lb in issue.labels if lb.lower_name == name.strip().lower()), None)
    if label is None:
        raise NotFound(f"issue #{issue.number} has no label {name!r}")
    issue.labels.remove(label)
    issue.updated_at = utcnow()
    record_event(session, issue, actor, "unlabeled", label_name=label.name, label_color=label.color)
    announce(session, issue, actor, "unlabeled", base_url, label=label)


def assign(session: Session, issue: Issue, actor: User, logins, base_url=None) -> Issue:
    require(session, actor, "triage", issue.repository)
    for user in assignable(session, issue.repository, logins):
        if user in issue.assignees:
            continue
        issue.assignees.append(user)
        record_event(session, issue, actor, "assigned", assignee_id=user.id)
        inbox.subscribe(session, issue, user.id)
        if user.id != actor.id:
            inbox.notify(session, user.id, issue, "assign", f"{actor.name} assigned you")
        announce(session, issue, actor, "assigned", base_url, assignee=user)
    issue.updated_at = utcnow()
    return issue


def unassign(session: Session, issue: Issue, actor: User, logins, base_url=None) -> Issue:
    require(session, actor, "triage", issue.repository)
    for login in logins or []:
        user = next((u for u in issue.assignees if u.name.lower() == str(login).lower()), None)
        if user is None:
            continue
        issue.assignees.remove(user)
        record_event(session, issue, actor, "unassigned", assignee_id=user.id)
        announce(session, issue, actor, "unassigned", base_url, assignee=user)
    issue.updated_at = utcnow()
    return issue


def set_assignees(session: Session, issue: Issue, actor: User, logins, base_url=None) -> Issue:
    wanted = {u.id for u in assignable(session, issue.repository, logins)}
    gone = [u.name for u in issue.assignees if u.id not in wanted]
    unassign(session, issue, actor, gone, base_url)
    return assign(session, issue, actor, logins, base_url)


def set_milestone(
    session: Session, issue: Issue, actor: User, number: int | None, base_url=None
) -> Issue:
    require(session, actor, "triage", issue.repository)
    wanted = milestone_numbered(session, issue.repository, number) if number else None
    previous = issue.milestone
    if wanted is previous:
        return issue
    if previous is not None:
        record_event(session, issue, actor, "demilestoned", milestone_title=previous.title)
    issue.milestone = wanted
    issue.updated_at = utcnow()
    if wanted is not None:
        record_event(session, issue, actor, "milestoned", milestone_title=wanted.title)
        announce(session, issue, actor, "milestoned", base_url, milestone=wanted)
    else:
        announce(session, issue, actor, "demilestoned", base_url, milestone=previous)
    return issue
