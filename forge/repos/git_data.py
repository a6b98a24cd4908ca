"""GitHub's git data API over a repository: blobs, trees and commits read by id, and made
from parts (no ref moves; a client then points a ref at the commit through git/refs, which
goes through the same checks as a push)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Invalid, NotFound
from forge.git import authoring
from forge.git import objects as git_objects
from forge.git.browse import CommitInfo
from forge.git.merge import Identity
from forge.models import Repository, User
from forge.repos.branches import open_git
from forge.repos.browse import reading

MAX_TREE_ENTRIES = 100_000  # GitHub's limit for one answer of a recursive tree


@dataclass(frozen=True)
class TreeListing:
    sha: str
    entries: list[git_objects.TreeEntry]
    truncated: bool


def _object(git, sha: str, kind: str) -> None:
    if git_objects.kind_of(git, sha) != kind:
        raise NotFound(f"no {kind} {sha}")


def get_commit(repos_dir: Path, repo: Repository, sha: str) -> CommitInfo:
    with reading(repos_dir, repo) as reader:
        _object(reader.repo, sha, "commit")
        return reader.commit(sha)


def get_tree(repos_dir: Path, repo: Repository, name: str, recursive: bool) -> TreeListing:
    """A tree by its id, or the root tree of a commit, branch or tag."""
    with reading(repos_dir, repo) as reader:
        if git_objects.kind_of(reader.repo, name) == "tree":
            tree = name
        else:
            tree = reader.commit(reader.revision(name).commit).tree
        entries, truncated = git_objects.tree_entries(
            reader.repo, tree, recursive, MAX_TREE_ENTRIES
        )
        return TreeListing(tree, entries, truncated)


def get_blob(repos_dir: Path, repo: Repository, sha: str) -> bytes:
    with reading(repos_dir, repo) as reader:
        _object(reader.repo, sha, "blob")
        return git_objects.blob_bytes(reader.repo, sha)


def create_blob(session: Session, repos_dir: Path, repo: Repository, actor: User, data: bytes):
    require(session, actor, "write", repo)
    with open_git(repos_dir, repo) as git:
        return authoring.create_blob(git, data)


def create_tree(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    base_tree: str | None,
    items: list[authoring.TreeItem],
) -> TreeListing:
    require(session, actor, "write", repo)
    with open_git(repos_dir, repo) as git:
        if base_tree is not None and git_objects.kind_of(git, base_tree) != "tree":
            raise Invalid(f"base_tree {base_tree} is not a tree here", field="base_tree")
        for item in items:
            if item.sha is not None and not git_objects.SHA.fullmatch(item.sha):
                raise Invalid(f"sha {item.sha!r} is not an object id", field="sha")
        try:
            tree = authoring.create_tree(git, base_tree, items)
        except authoring.AuthoringError as exc:
            raise Invalid(str(exc), field=exc.field or "tree") from None
    return get_tree(repos_dir, repo, tree, recursive=False)


def create_commit(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    *,
    message: str,
    tree: str,
    parents: list[str],
    author: Identity | None,
    committer: Identity | None,
) -> CommitInfo:
    require(session, actor, "write", repo)
    if not isinstance(message, str) or not message:
        raise Invalid("message is required", field="message")
    me = Identity(actor.full_name or actor.name, actor.email)
    committer = committer or me
    author = author or committer
    with open_git(repos_dir, repo) as git:
        if git_objects.kind_of(git, tree) != "tree":
            raise Invalid(f"tree {tree!r} is not a tree here", field="tree")
        for parent in parents:
            if git_objects.kind_of(git, parent) != "commit":
                raise Invalid(f"parent {parent!r} is not a commit here", field="parents")
        try:
            sha = authoring.create_commit(git, tree, parents, author, committer, message)
        except authoring.AuthoringError as exc:
            raise Invalid(str(exc), field=exc.field) from None
    return get_commit(repos_dir, repo, sha)
