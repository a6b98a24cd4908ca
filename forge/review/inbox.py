"""A user's inbox: news of the changes they take part in or watch, as GitHub's notifications.

`notify` is the one way news gets in, whoever tells it (the review domain directly, the
subscribers in `forge.notify.inbox` for votes, CI, the merge queue and watchers): a user hears
of one action once, never from a repository they ignore, and never of a change they may not
see. Entries are read (still listed with `include_read`) or done (deleted, as GitHub's
"mark as done"). A user with a verified address is also mailed each entry when the site sends
mail.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from forge import outbox
from forge.accounts.permissions import can
from forge.accounts.users import find_user
from forge.db import after_commit, after_rollback
from forge.models import Change, Issue, Notification, Repository, User

MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9._-]{0,38})")
# Reasons that come from the user's own part in the change (GitHub's "participating").
PARTICIPATING = ("author", "mention", "review_requested", "cc", "needs_rebase", "state_change",
                 "ci_activity")  # fmt: skip
SHOWN = 200


def notify(session: Session, user_id: int, change: Change, reason: str, detail: str) -> bool:
    """Put news of the change in the user's inbox, unless they ignore its repository, may not
    see the change (a watcher who lost access, a private change), or already have news of it
    from this same transaction (the author of a change they also watch hears once). True if
    added."""
    from forge.repos.watching import ignores
    from forge.review.gerrit_query import may_see

    told = told_in_transaction(session)
    if (user_id, change.id) in told:
        return False
    if ignores(session, user_id, change.repository_id):
        return False
    user = session.get(User, user_id)
    if user is None or not may_see(session, user, change):
        return False
    deliver(session, user, Notification(user_id=user_id, change_id=change.id, reason=reason,
                                        detail=detail))  # fmt: skip
    told.add((user_id, change.id))
    return True


def told_in_transaction(session: Session) -> set:
    """What this transaction already told whom (keys such as (user_id, change_id); an issue's
    are (user_id, "issue", issue_id)), so one action reaches a user once."""
    told = session.info.get("forge.notified")
    if told is None:
        told = session.info["forge.notified"] = set()
        forget = lambda: session.info.pop("forge.notified", None)  # noqa: E731
        after_commit(session, forget)
        after_rollback(session, forget)
    return told


def deliver(session: Session, user: User, row: Notification) -> None:
    """Put the entry in the inbox, mailed after this commits when the user's address is
    verified and the site sends mail (forge.notify.inbox.mail)."""
    session.add(row)
    if user.email and user.email_verified:
        session.flush()
        base_url = session.info.get("forge.base_url") or ""
        outbox.put(session, "default", "forge.jobs.mail_notification", row.id, base_url)


def notify_mentions(session: Session, change: Change, actor: User, text: str) -> None:
    for name in sorted(set(MENTION.findall(text or ""))):
        user = find_user(session, name)
        if user is None or user.id == actor.id:
            continue
        if can(session, user, "read", change.repository):
            notify(session, user.id, change, "mention", f"{actor.name} mentioned you")


def _mine(user: User, repository: Repository | None):
    query = select(Notification).where(Notification.user_id == user.id)
    if repository is not None:
        # An entry is about a change or, since issues, an issue (forge.issues.inbox).
        query = (
            query.outerjoin(Change, Notification.change_id == Change.id)
            .outerjoin(Issue, Notification.issue_id == Issue.id)
            .where(
                or_(
                    Change.repository_id == repository.id,
                    Issue.repository_id == repository.id,
                )
            )
        )
    return query


def entries(
    session: Session,
    user: User,
    *,
    include_read: bool = False,
    participating: bool = False,
    repository: Repository | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> list[Notification]:
    """The user's inbox, newest first (at most SHOWN): unread only unless `include_read`;
    `participating` leaves out what only watching brought."""
    query = _mine(user, repository)
    if not include_read:
        query = query.where(Notification.read.is_(False))
    if participating:
        query = query.where(Notification.reason.in_(PARTICIPATING))
    if since is not None:
        query = query.where(Notification.created_at >= since)
    if before is not None:
        query = query.where(Notification.created_at < before)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(SHOWN)))


def inbox(session: Session, user: User) -> list[Notification]:
    """What the user has not read yet."""
    return entries(session, user)


def entry(session: Session, user: User, notification_id: int) -> Notification | None:
    """One of the user's entries; None for another's (so nothing tells them it exists)."""
    found = session.get(Notification, notification_id)
    return found if found is not None and found.user_id == user.id else None


def unread_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read.is_(False)
        )
    )


def mark_read(
    session: Session,
    user: User,
    notification_id: int | None = None,
    *,
    repository: Repository | None = None,
    before: datetime | None = None,
) -> None:
    """Mark one entry read, or all of them (of one repository, or older than `before`)."""
    query = update(Notification).where(Notification.user_id == user.id)
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    if repository is not None:
        changes = select(Change.id).where(Change.repository_id == repository.id)
        issues = select(Issue.id).where(Issue.repository_id == repository.id)
        query = query.where(
            or_(Notification.change_id.in_(changes), Notification.issue_id.in_(issues))
        )
    if before is not None:
        query = query.where(Notification.created_at < before)
    session.execute(query.values(read=True).execution_options(synchronize_session=False))


def mark_done(session: Session, user: User, notification_id: int) -> None:
    """Take the entry out of the inbox altogether."""
    session.execute(
        delete(Notification)
        .where(Notification.user_id == user.id, Notification.id == notification_id)
        .execution_options(synchronize_session=False)
    )
