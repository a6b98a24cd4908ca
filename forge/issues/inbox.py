"""News of issues in users' inboxes, beside the news of changes (forge.review.inbox).

An issue's followers are its `IssueSubscription` rows: its author, whoever commented, was
assigned or subscribed, less those who unsubscribed. A user hears of one action once, never
from a repository they ignore, never of an issue they may not read, never of their own doing.
`@name` in a text tells that person, as on changes (only mentions new to an edit).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can
from forge.accounts.users import find_user
from forge.models import Issue, IssueSubscription, Notification, User
from forge.review.inbox import MENTION, deliver, told_in_transaction


def notify(session: Session, user_id: int, issue: Issue, reason: str, detail: str) -> bool:
    """Put news of the issue in the user's inbox (as forge.review.inbox.notify does for a
    change); True if added."""
    from forge.repos.watching import ignores

    told = told_in_transaction(session)
    key = (user_id, "issue", issue.id)
    if key in told or ignores(session, user_id, issue.repository_id):
        return False
    user = session.get(User, user_id)
    if user is None or not can(session, user, "read", issue.repository):
        return False
    deliver(session, user, Notification(user_id=user_id, issue_id=issue.id, reason=reason,
                                        detail=detail))  # fmt: skip
    told.add(key)
    return True


def subscribe(session: Session, issue: Issue, user_id: int) -> None:
    """Make the user a follower unless they are one, or asked not to be."""
    found = session.scalar(
        select(IssueSubscription).where(
            IssueSubscription.issue_id == issue.id, IssueSubscription.user_id == user_id
        )
    )
    if found is None:
        session.add(IssueSubscription(issue_id=issue.id, user_id=user_id, subscribed=True))
        session.flush()


def set_subscribed(session: Session, issue: Issue, user: User, subscribed: bool) -> None:
    found = session.scalar(
        select(IssueSubscription).where(
            IssueSubscription.issue_id == issue.id, IssueSubscription.user_id == user.id
        )
    )
    if found is None:
        session.add(IssueSubscription(issue_id=issue.id, user_id=user.id, subscribed=subscribed))
    else:
        found.subscribed = subscribed
    session.flush()


def followers(session: Session, issue: Issue) -> list[int]:
    return list(
        session.scalars(
            select(IssueSubscription.user_id).where(
                IssueSubscription.issue_id == issue.id, IssueSubscription.subscribed.is_(True)
            )
        )
    )


def tell_followers(session: Session, issue: Issue, actor: User, reason: str, detail: str):
    for user_id in followers(session, issue):
        if user_id != actor.id:
            notify(session, user_id, issue, reason, detail)


def tell_mentioned(
    session: Session, issue: Issue, actor: User, text: str, previous: str | None = None
) -> None:
    already = set(MENTION.findall(previous or ""))
    for name in sorted(set(MENTION.findall(text or "")) - already):
        user = find_user(session, name)
        if user is None or user.id == actor.id:
            continue
        if notify(session, user.id, issue, "mention", f"{actor.name} mentioned you"):
            subscribe(session, issue, user.id)
