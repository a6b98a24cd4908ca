"""The plain values the repository reader (`forge.git.browse.RepoReader`) answers with: a
revision, a commit and the people in it, a tree's entry, a changed file, a branch and a tag.
They hold text and ids only, so pages, the API and caches can keep them."""

from __future__ import annotations

import stat
from dataclasses import dataclass

SUBMODULE_MODE = 0o160000


@dataclass(frozen=True)
class Revision:
    """What a ref in a URL named: a branch, a tag or a commit id, and the commit it means."""

    name: str
    kind: str  # "branch", "tag" or "commit"
    commit: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    time: int
    offset: int  # seconds east of UTC


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def body(self) -> str:
        parts = self.message.strip("\n").split("\n", 1)
        return parts[1].strip("\n") if len(parts) > 1 else ""


@dataclass(frozen=True)
class LastChange:
    """What a folder listing shows of the newest commit that changed an entry."""

    sha: str
    summary: str
    committer: Person

    @classmethod
    def of(cls, commit: CommitInfo) -> LastChange:
        return cls(commit.sha, commit.summary, commit.committer)

    def to_json(self) -> list:
        person = self.committer
        return [self.sha, self.summary, person.name, person.email, person.time, person.offset]

    @classmethod
    def from_json(cls, value: list) -> LastChange:
        sha, summary, *person = value
        return cls(sha, summary, Person(*person))


@dataclass(frozen=True)
class Entry:
    """One entry of a tree: `path` is its full path from the repository's root."""

    name: str
    path: str
    mode: int
    sha: str

    @property
    def kind(self) -> str:
        if self.mode == SUBMODULE_MODE:
            return "submodule"
        if stat.S_ISDIR(self.mode):
            return "tree"
        if stat.S_ISLNK(self.mode):
            return "symlink"
        return "blob"


@dataclass(frozen=True)
class Change:
    """One file changed between two trees."""

    status: str  # added, deleted, modified, renamed, copied
    old_path: str | None
    new_path: str | None
    old_sha: str | None
    new_sha: str | None
    old_mode: int | None
    new_mode: int | None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass(frozen=True)
class BranchInfo:
    name: str
    commit: CommitInfo


@dataclass(frozen=True)
class TagInfo:
    name: str
    commit: CommitInfo
    message: str  # an annotated tag's message, else ""
