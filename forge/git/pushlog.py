"""What a push brought: the commits between a ref's old and new value, with the paths each
commit added, removed and modified (for push webhooks)."""

from __future__ import annotations

from dataclasses import dataclass

from dulwich.diff_tree import tree_changes
from dulwich.objects import Commit
from dulwich.repo import Repo
from dulwich.walk import ORDER_TOPO, Walker

from forge.git.browse import Person, _person

ZERO = "0" * 40


@dataclass(frozen=True)
class PushedCommit:
    sha: str
    message: str
    author: Person
    committer: Person
    added: list[str]
    removed: list[str]
    modified: list[str]


def pushed_commits(
    repo: Repo, ref: str, before: str, after: str, limit: int = 20
) -> list[PushedCommit]:
    """The newest `limit` commits `after` brought to `ref`, oldest first. For a new branch these
    are the commits no other branch has (as GitHub lists them)."""
    if after == ZERO:
        return []
    exclude = [before.encode()] if before != ZERO else []
    if before == ZERO:
        exclude = [
            sha
            for name, sha in repo.refs.as_dict(b"refs/heads").items()
            if b"refs/heads/" + name != ref.encode() and sha != after.encode()
        ]
    exclude = [sha for sha in exclude if sha in repo.object_store]
    walker = Walker(
        repo.object_store,
        include=[after.encode()],
        exclude=exclude,
        order=ORDER_TOPO,
        max_entries=limit,
    )
    commits = [entry.commit for entry in walker]
    commits.reverse()
    return [_pushed(repo, commit) for commit in commits]


def _pushed(repo: Repo, commit: Commit) -> PushedCommit:
    parent_tree = repo.object_store[commit.parents[0]].tree if commit.parents else None
    added, removed, modified = [], [], []
    for change in tree_changes(repo.object_store, parent_tree, commit.tree):
        if change.type == "add":
            added.append(change.new.path.decode("utf-8", "replace"))
        elif change.type == "delete":
            removed.append(change.old.path.decode("utf-8", "replace"))
        else:
            modified.append((change.new.path or change.old.path).decode("utf-8", "replace"))
    return PushedCommit(
        sha=commit.id.decode(),
        message=commit.message.decode("utf-8", "replace"),
        author=_person(commit.author, commit.author_time, commit.author_timezone),
        committer=_person(commit.committer, commit.commit_time, commit.commit_timezone),
        added=added,
        removed=removed,
        modified=modified,
    )
