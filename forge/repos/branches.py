"""Branches, tags and branch protection rules of a repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Invalid, NotFound
from forge.git import refs as git_refs
from forge.git.storage import open_repo
from forge.models import BranchProtection, Repository, User
from forge.repos.repositories import disk_path


@dataclass
class Branch:
    name: str
    sha: str
    protected: bool


@dataclass
class Tag:
    name: str
    sha: str  # the tag object for annotated tags, else the commit
    commit: str


def open_git(repos_dir: Path, repo: Repository) -> Repo:
    return open_repo(disk_path(repos_dir, repo))


def _protected_names(session: Session, repo: Repository) -> set[str]:
    return set(
        session.scalars(
            select(BranchProtection.branch).where(BranchProtection.repository_id == repo.id)
        )
    )


def list_branches(session: Session, repos_dir: Path, repo: Repository) -> list[Branch]:
    protected = _protected_names(session, repo)
    with open_git(repos_dir, repo) as git:
        pairs = git_refs.list_refs(git, "refs/heads")
    return [
        Branch(ref[len("refs/heads/") :], sha, ref[len("refs/heads/") :] in protected)
        for ref, sha in pairs
    ]


def get_branch(session: Session, repos_dir: Path, repo: Repository, name: str) -> Branch:
    with open_git(repos_dir, repo) as git:
        sha = git_refs.current_value(git, f"refs/heads/{name}")
    if sha == git_refs.ZERO:
        raise NotFound(f"branch {name!r} not found")
    return Branch(name, sha, name in _protected_names(session, repo))


def list_tags(repos_dir: Path, repo: Repository) -> list[Tag]:
    with open_git(repos_dir, repo) as git:
        return [
            Tag(ref[len("refs/tags/") :], sha, git_refs.peel(git, sha))
            for ref, sha in git_refs.list_refs(git, "refs/tags")
        ]


def list_refs(repos_dir: Path, repo: Repository, prefix: str) -> list[tuple[str, str]]:
    """Refs under refs/`prefix` (or all refs), as (name, sha)."""
    with open_git(repos_dir, repo) as git:
        return git_refs.list_refs(git, "refs/" + prefix.strip("/") if prefix else "refs")


# --- protection ---------------------------------------------------------------------------


def get_protection(session: Session, repo: Repository, branch: str) -> BranchProtection:
    rule = session.scalar(
        select(BranchProtection).where(
            BranchProtection.repository_id == repo.id, BranchProtection.branch == branch
        )
    )
    if rule is None:
        raise NotFound("Branch not protected")
    return rule


def set_protection(
    session: Session,
    repo: Repository,
    actor: User,
    branch: str,
    *,
    allow_force_pushes: bool = False,
    allow_deletions: bool = False,
    enforce_admins: bool = False,
    required_approving_review_count: int | None = None,
    required_status_checks: dict | None = None,
) -> BranchProtection:
    """Create or replace the protection of a branch (it need not exist yet, as on GitHub)."""
    require(session, actor, "admin", repo)
    try:
        git_refs.check_branch_name(branch)
    except ValueError as exc:
        raise Invalid(str(exc), field="branch") from None
    if required_approving_review_count is not None and not (
        0 <= required_approving_review_count <= 6
    ):
        raise Invalid("required_approving_review_count must be between 0 and 6", "reviews")
    if required_status_checks is not None:
        contexts = required_status_checks.get("contexts") or []
        if not all(isinstance(c, str) and c for c in contexts):
            raise Invalid("contexts must be a list of names", field="contexts")
        required_status_checks = {
            "strict": bool(required_status_checks.get("strict")),
            "contexts": list(contexts),
        }
    rule = session.scalar(
        select(BranchProtection).where(
            BranchProtection.repository_id == repo.id, BranchProtection.branch == branch
        )
    )
    if rule is None:
        rule = BranchProtection(repository_id=repo.id, branch=branch)
        session.add(rule)
    rule.allow_force_pushes = allow_force_pushes
    rule.allow_deletions = allow_deletions
    rule.enforce_admins = enforce_admins
    rule.required_approving_review_count = required_approving_review_count
    rule.required_status_checks = required_status_checks
    session.flush()
    return rule


def delete_protection(session: Session, repo: Repository, actor: User, branch: str) -> None:
    require(session, actor, "admin", repo)
    session.delete(get_protection(session, repo, branch))


def is_tag_object(repos_dir: Path, repo: Repository, sha: str) -> bool:
    with open_git(repos_dir, repo) as git:
        return git.object_store[sha.encode()].type_name == b"tag"
