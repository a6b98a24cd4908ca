"""Repositories: create, find, change, delete, and collaborators with roles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from forge.accounts.names import check_repo_name
from forge.accounts.permissions import (
    ROLES,
    granted_repository_ids,
    granted_user_ids,
    require,
    roles_of,
)
from forge.accounts.users import find_user
from forge.cache import LRU
from forge.db import after_commit, after_rollback, utcnow
from forge.errors import Invalid, NotFound
from forge.git import fsck, storage
from forge.models import Collaborator, Repository, User
from forge.repos import release_files

MAX_DESCRIPTION = 350
# Repository sizes measured, by path, last ref update and pack directory: a listing of many
# repositories, asked again and again, measures each only after it changed.
_SIZES = LRU(16384)


def disk_path(repos_dir: Path, repo: Repository) -> Path:
    return storage.repo_path(repos_dir, repo.owner.name, repo.name)


def size_kb(repos_dir: Path, repo: Repository) -> int:
    """What the repository's objects take on disk, in KiB (GitHub's `size`)."""
    path = disk_path(repos_dir, repo)
    key = (str(path), repo.pushed_at, storage.objects_stamp(path))
    return _SIZES.get_or_compute(key, lambda: (storage.objects_bytes(path) + 1023) // 1024)


def find_repository(session: Session, owner: str, name: str) -> Repository | None:
    if not isinstance(owner, str) or not isinstance(name, str):
        return None
    return session.scalar(
        select(Repository)
        .join(User, Repository.owner_id == User.id)
        .where(User.lower_name == owner.lower(), Repository.lower_name == name.lower())
    )


def get_repository(
    session: Session, owner: str, name: str, viewer: User | None, action: str = "read"
) -> Repository:
    """The repository if the viewer may do `action` to it; NotFound when they cannot read it."""
    repo = find_repository(session, owner, name)
    if repo is None:
        raise NotFound(f"repository {owner}/{name} not found")
    require(session, viewer, action, repo)
    return repo


def repository_filter(session: Session, text: str | None, viewer: User | None) -> Repository | None:
    """The repository a `repository=OWNER/NAME` filter names (None when blank), as the viewer
    may read it; Invalid for anything not shaped OWNER/NAME."""
    text = (text or "").strip()
    if not text:
        return None
    owner, _, name = text.partition("/")
    if not owner or not name or "/" in name:
        raise Invalid(f"repository must be OWNER/NAME, not {text[:100]!r}", field="repository")
    return get_repository(session, owner, name, viewer)


def _check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"the description is longer than {MAX_DESCRIPTION} characters", "description")
    return description


def _check_branch_name(branch: str) -> str:
    from forge.git.refs import check_branch_name

    try:
        return check_branch_name(branch)
    except ValueError as exc:
        raise Invalid(str(exc), field="default_branch") from None


def create_repository(
    session: Session,
    repos_dir: Path,
    owner: User,
    name: str,
    description: str = "",
    private: bool = False,
    default_branch: str = "main",
) -> Repository:
    check_repo_name(name)
    description = _check_description(description)
    default_branch = _check_branch_name(default_branch or "main")
    if find_repository(session, owner.name, name) is not None:
        raise Invalid(f"{owner.name} already has a repository named {name!r}", field="name")
    repo = Repository(
        owner=owner,
        name=name,
        lower_name=name.lower(),
        description=description,
        is_private=bool(private),
        default_branch=default_branch,
    )
    session.add(repo)
    session.flush()
    path = disk_path(repos_dir, repo)
    if path.exists():
        # Left behind by something outside forge; never adopt or overwrite it silently.
        raise Invalid(f"a repository directory for {owner.name}/{name} already exists on disk")
    storage.init_bare(path, default_branch)
    after_rollback(session, lambda: storage.remove(path))
    return repo


def update_repository(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    *,
    name: str | None = None,
    description: str | None = None,
    private: bool | None = None,
    default_branch: str | None = None,
    require_change_id: bool | None = None,
) -> Repository:
    require(session, actor, "admin", repo)
    # Every check comes before the first change, so refused input leaves disk and row alone.
    if description is not None:
        description = _check_description(description)
    new_branch = None
    if default_branch is not None and default_branch != repo.default_branch:
        new_branch = _check_branch_name(default_branch)
    renamed = name is not None and name != repo.name
    if renamed:
        check_repo_name(name)
        clash = find_repository(session, repo.owner.name, name)
        if clash is not None and clash.id != repo.id:
            raise Invalid(f"{repo.owner.name} already has a repository named {name!r}", "name")
        target = storage.repo_path(repos_dir, repo.owner.name, name)
        if target != disk_path(repos_dir, repo) and target.exists():
            # Left behind by something outside forge, as in create_repository.
            raise Invalid(
                f"a repository directory for {repo.owner.name}/{name} already exists on disk",
                field="name",
            )

    if description is not None:
        repo.description = description
    if private is not None:
        repo.is_private = bool(private)
    if require_change_id is not None:
        repo.require_change_id = bool(require_change_id)
    if new_branch is not None:
        old_branch, path = repo.default_branch, disk_path(repos_dir, repo)
        repo.default_branch = new_branch
        storage.set_default_branch(path, new_branch)
        after_rollback(session, lambda: storage.set_default_branch(path, old_branch))
    if renamed:
        old_path = disk_path(repos_dir, repo)
        repo.name, repo.lower_name = name, name.lower()
        new_path = disk_path(repos_dir, repo)
        if new_path != old_path:
            storage.move(old_path, new_path)
            after_rollback(session, lambda: storage.move(new_path, old_path))
    repo.updated_at = utcnow()
    session.flush()
    return repo


def fsck_policy(repo: Repository, site: str) -> fsck.FsckPolicy:
    """How problems in objects pushed to `repo` weigh: its own setting over the site's
    (FORGE_FSCK, `site`) over git's defaults."""
    return fsck.FsckPolicy(fsck.stored_overrides(site), fsck.stored_overrides(repo.fsck))


def set_fsck_overrides(session: Session, repo: Repository, actor: User, overrides) -> None:
    """Replace the repository's own severities ({msg-id: error|warn|ignore}, as git's
    `receive.fsck.<msg-id>`); Invalid, changing nothing, for an unknown id or severity or a
    check forge always refuses."""
    require(session, actor, "admin", repo)
    if not isinstance(overrides, dict):
        raise Invalid("severities must be an object of msg-id: severity", field="severities")
    try:
        parsed = fsck.parse_overrides(overrides)
    except ValueError as exc:
        raise Invalid(str(exc), field="severities") from None
    repo.fsck = fsck.format_overrides(parsed)
    repo.updated_at = utcnow()
    session.flush()


def delete_repository(
    session: Session, repos_dir: Path, repo: Repository, actor: User, confirmation: str | None
) -> None:
    """Delete a repository; `confirmation` must be its full name typed out (None skips, API)."""
    require(session, actor, "admin", repo)
    if confirmation is not None and confirmation.strip() != repo.full_name:
        raise Invalid(f"type {repo.full_name} to confirm the deletion", field="confirmation")
    path = disk_path(repos_dir, repo)
    repository_id = repo.id
    session.delete(repo)
    session.flush()
    after_commit(session, lambda: storage.remove(path))
    # Its release assets' files go with it (their rows went with the repository's).
    assets = release_files.root_beside(repos_dir)
    after_commit(session, lambda: release_files.remove_repository(assets, repository_id))


def visible_repositories(
    session: Session, viewer: User | None, owner: User | None = None, limit: int | None = None
) -> list[Repository]:
    """Repositories the viewer may read, newest first, optionally only those of one owner."""
    query = select(Repository).order_by(Repository.updated_at.desc(), Repository.id.desc())
    if owner is not None:
        query = query.where(Repository.owner_id == owner.id)
    if viewer is None or not viewer.is_active:
        query = query.where(Repository.is_private.is_(False))
    elif not viewer.is_admin:
        shared = granted_repository_ids(viewer)
        query = query.where(
            or_(
                Repository.is_private.is_(False),
                Repository.owner_id == viewer.id,
                Repository.id.in_(shared),
            )
        )
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def repositories_of_member(session: Session, user: User) -> list[Repository]:
    """Repositories the user owns or collaborates on, what GitHub's GET /user/repos lists."""
    shared = granted_repository_ids(user)
    query = (
        select(Repository)
        .where(or_(Repository.owner_id == user.id, Repository.id.in_(shared)))
        .order_by(Repository.updated_at.desc(), Repository.id.desc())
    )
    return list(session.scalars(query))


# --- collaborators --------------------------------------------------------------------------


def check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; roles are {', '.join(ROLES)}", field="permission")
    return role


def set_collaborator(
    session: Session, repo: Repository, actor: User, user_name: str, role: str
) -> bool:
    """Give a user a role on the repository; True when they were not a collaborator before."""
    require(session, actor, "admin", repo)
    check_role(role)
    user = find_user(session, user_name)
    if user is None:
        raise NotFound(f"no user named {user_name!r}")
    if user.id == repo.owner_id:
        raise Invalid(f"{user.name} owns {repo.full_name} already", field="username")
    existing = session.scalar(
        select(Collaborator).where(
            Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
        )
    )
    if existing is not None:
        existing.role = role
        return False
    session.add(Collaborator(repository=repo, user=user, role=role))
    session.flush()
    return True


def remove_collaborator(session: Session, repo: Repository, actor: User, user_name: str) -> None:
    require(session, actor, "admin", repo)
    user = find_user(session, user_name)
    row = user and session.scalar(
        select(Collaborator).where(
            Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
        )
    )
    if not row:
        raise NotFound(f"{user_name} is not a collaborator on {repo.full_name}")
    session.delete(row)


def get_collaborator_role(session: Session, repo: Repository, user_name: str) -> str | None:
    """The role of a user on the repository if they are the owner or a collaborator."""
    user = find_user(session, user_name)
    if user is None:
        raise NotFound(f"no user named {user_name!r}")
    if user.id == repo.owner_id:
        return "admin"
    if repo.owner.is_organization:  # its owners, members and teams are collaborators too
        if user.id not in granted_user_ids(session, repo, "read"):
            return None
        return roles_of(session, [user], repo)[user.id]
    return session.scalar(
        select(Collaborator.role).where(
            Collaborator.repository_id == repo.id, Collaborator.user_id == user.id
        )
    )


def people_with_access(session: Session, repo: Repository) -> list[tuple[User, str]]:
    """Everyone with a role on the repository, as GitHub lists its collaborators: the owner
    and each collaborator or, for an organization's, everyone a grant reaches, by name."""
    if not repo.owner.is_organization:
        return [(repo.owner, "admin")] + [(c.user, c.role) for c in collaborators(session, repo)]
    ids = granted_user_ids(session, repo, "read")
    people = list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.lower_name)))
    roles = roles_of(session, people, repo)
    return [(person, roles[person.id]) for person in people if roles[person.id]]


def collaborators(session: Session, repo: Repository) -> list[Collaborator]:
    return list(
        session.scalars(
            select(Collaborator)
            .where(Collaborator.repository_id == repo.id)
            .order_by(Collaborator.id)
        )
    )


@dataclass(frozen=True)
class AccountUsage:
    """What GitHub's private user (GET /user) counts of the account's own repositories."""

    owned_private_repos: int
    total_private_repos: int
    disk_usage: int  # KiB, the sum of `size_kb`
    collaborators: int  # distinct people given a role on its private repositories


def account_usage(session: Session, repos_dir: Path, user: User) -> AccountUsage:
    owned = list(session.scalars(select(Repository).where(Repository.owner_id == user.id)))
    private = [repo for repo in owned if repo.is_private]
    people = {c.user_id for repo in private for c in collaborators(session, repo)}
    return AccountUsage(
        owned_private_repos=len(private),
        total_private_repos=len(private),
        disk_usage=sum(size_kb(repos_dir, repo) for repo in owned),
        collaborators=len(people),
    )
