"""Watching a repository, as GitHub's subscriptions: a watcher hears of every change opened,
commented on, reviewed, merged or closed in it; a user who ignores it hears nothing from it,
not even a mention or a review request. Everyone else hears only of what they take part in.

A watch never lets anyone see more: what the inbox says about a repository is filtered by who
may read it when it is said (`forge.review.inbox.notify`).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.db import counted_once
from forge.models import Repository, User, Watch


def subscription(session: Session, user: User, repo: Repository) -> Watch | None:
    """The user's watch of the repository, whether watching or ignoring; None if neither."""
    return session.scalar(
        select(Watch).where(Watch.user_id == user.id, Watch.repository_id == repo.id)
    )


def subscribe(session: Session, user: User, repo: Repository, *, ignored: bool = False) -> Watch:
    """Watch the repository (or, with `ignored`, ignore it); replaces the user's previous
    choice for it."""
    watch = subscription(session, user, repo)
    if watch is None:
        watch = Watch(user_id=user.id, repository_id=repo.id, user=user, repository=repo)
        session.add(watch)
    watch.ignored = ignored
    session.flush()
    return watch


def unsubscribe(session: Session, user: User, repo: Repository) -> None:
    """Back to the default: news of what the user takes part in."""
    watch = subscription(session, user, repo)
    if watch is not None:
        session.delete(watch)
        session.flush()


def watchers(session: Session, repo: Repository) -> list[User]:
    """Who watches the repository (not those who ignore it), in the order they started."""
    query = (
        select(User)
        .join(Watch, Watch.user_id == User.id)
        .where(Watch.repository_id == repo.id, Watch.ignored.is_(False))
        .order_by(Watch.id)
    )
    return list(session.scalars(query))


def watcher_count(session: Session, repo: Repository) -> int:
    """GitHub's `subscribers_count`."""
    query = select(func.count(Watch.id)).where(
        Watch.repository_id == repo.id, Watch.ignored.is_(False)
    )
    return counted_once(session, "watchers", repo.id, lambda: session.scalar(query))


def watched_by(session: Session, user: User) -> list[Repository]:
    """The repositories the user watches, in the order they started (not filtered by access:
    the caller shows only what the viewer may see)."""
    query = (
        select(Repository)
        .join(Watch, Watch.repository_id == Repository.id)
        .where(Watch.user_id == user.id, Watch.ignored.is_(False))
        .order_by(Watch.id)
    )
    return list(session.scalars(query))


def ignores(session: Session, user_id: int, repository_id: int) -> bool:
    return (
        session.scalar(
            select(Watch.id).where(
                Watch.user_id == user_id,
                Watch.repository_id == repository_id,
                Watch.ignored.is_(True),
            )
        )
        is not None
    )
