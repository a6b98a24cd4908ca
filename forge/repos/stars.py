"""Stars: a user marks a repository they like or follow (GitHub's stargazers). Starring needs
read access; a private repository's stars are seen by its readers only."""

from __future__ import annotations

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can, require
from forge.models import Repository, Star, User


def is_starred(session: Session, user: User | None, repo: Repository) -> bool:
    if user is None:
        return False
    return (
        session.scalar(
            select(Star.id).where(Star.user_id == user.id, Star.repository_id == repo.id)
        )
        is not None
    )


def star(session: Session, user: User, repo: Repository) -> None:
    """Star the repository (starring twice is one star, as on GitHub)."""
    require(session, user, "read", repo)
    if not is_starred(session, user, repo):
        session.add(Star(user_id=user.id, repository_id=repo.id))
        session.flush()


def unstar(session: Session, user: User, repo: Repository) -> None:
    require(session, user, "read", repo)
    found = session.scalar(
        select(Star).where(Star.user_id == user.id, Star.repository_id == repo.id)
    )
    if found is not None:
        session.delete(found)
        session.flush()


_STAR_COUNTS = "forge.star_counts"


def star_count(session: Session, repo: Repository) -> int:
    """GitHub's `stargazers_count`, counted once per repository and session as
    `forks.fork_count` is (a listing shows a few repositories many times over)."""
    counts = session.info.setdefault(_STAR_COUNTS, {})
    if repo.id not in counts:
        counts[repo.id] = session.scalar(
            select(func.count()).select_from(Star).where(Star.repository_id == repo.id)
        )
    return counts[repo.id]


@event.listens_for(Session, "after_flush")
def _forget_star_counts(session: Session, _context) -> None:
    session.info.pop(_STAR_COUNTS, None)


def stargazers(session: Session, repo: Repository, viewer: User | None) -> list[Star]:
    """Who starred the repository, earliest first (GitHub's order)."""
    require(session, viewer, "read", repo)
    query = select(Star).where(Star.repository_id == repo.id).order_by(Star.created_at, Star.id)
    return list(session.scalars(query))


def starred_by(session: Session, user: User, viewer: User | None) -> list[Star]:
    """The repositories `user` starred that the viewer may read, newest star first."""
    query = (
        select(Star).where(Star.user_id == user.id).order_by(Star.created_at.desc(), Star.id.desc())
    )
    return [s for s in session.scalars(query) if can(session, viewer, "read", s.repository)]
