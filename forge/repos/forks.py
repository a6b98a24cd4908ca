"""Forks: a user's own copy of a repository, to work in and propose changes from."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.accounts.names import check_repo_name
from forge.accounts.permissions import can, require
from forge.db import after_rollback, counted_once
from forge.errors import Invalid
from forge.git import storage
from forge.models import Repository, User
from forge.repos.repositories import disk_path, find_repository


def fork_repository(
    session: Session, repos_dir: Path, source: Repository, actor: User, name: str | None = None
) -> tuple[Repository, bool]:
    """The actor's fork of `source` (made now, or the one they have); True when new.

    A private repository can only be forked by those who can read it, and its forks stay
    private. Forking your own repository is refused, as on GitHub.
    """
    require(session, actor, "read", source)
    if source.owner_id == actor.id:
        raise Invalid("you cannot fork your own repository", field="owner")
    existing = fork_of_user(session, source, actor)
    if existing is not None:
        return existing, False
    name = check_repo_name(name or source.name)
    if find_repository(session, actor.name, name) is not None:
        raise Invalid(f"{actor.name} already has a repository named {name!r}", field="name")
    fork = Repository(
        owner=actor,
        name=name,
        lower_name=name.lower(),
        description=source.description,
        is_private=source.is_private,
        default_branch=source.default_branch,
        fork_of_id=source.id,
    )
    session.add(fork)
    session.flush()
    target = disk_path(repos_dir, fork)
    if target.exists():
        raise Invalid(f"a repository directory for {actor.name}/{name} already exists on disk")
    storage.fork_bare(disk_path(repos_dir, source), target, source.default_branch)
    after_rollback(session, lambda: storage.remove(target))
    return fork, True


def fork_of_user(session: Session, source: Repository, user: User) -> Repository | None:
    """The fork of `source` that `user` already has, if any (one each, as on GitHub)."""
    return session.scalar(
        select(Repository).where(Repository.owner_id == user.id, Repository.fork_of_id == source.id)
    )


def forks_of(session: Session, source: Repository, viewer: User | None) -> list[Repository]:
    """The direct forks of `source` the viewer may read, newest first."""
    query = (
        select(Repository)
        .where(Repository.fork_of_id == source.id)
        .order_by(Repository.created_at.desc(), Repository.id.desc())
    )
    return [fork for fork in session.scalars(query) if can(session, viewer, "read", fork)]


def fork_count(session: Session, source: Repository) -> int:
    """How many direct forks `source` has, GitHub's `forks_count`."""
    query = select(func.count()).select_from(Repository).where(Repository.fork_of_id == source.id)
    return counted_once(session, "forks", source.id, lambda: session.scalar(query))
