"""Stars: a user marks a repository they like or follow (GitHub's stargazers). Starring needs
read access; a private repository's stars are seen by its readers only."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can, require
from forge.db import counted_once
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


def star_count(session: Session, repo: Repository) -> int:
    """GitHub's `stargazers_count`."""
    query = select(func.count()).select_from(Star).where(Star.repository_id == repo.id)
    return counted_once(session, "stars", repo.id, lambda: session.scalar(query))


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
