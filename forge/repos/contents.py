"""What a repository holds, as the REST API shows it: a file or folder at a revision, a commit
with the patch of each file it changed, and the commits and file patches of a change.

Reads go through `forge.git.browse.RepoReader` (by way of `forge.repos.browse.reading`);
patches are plain unified-diff text made with the same line diff the code browser shows.
Patches depend only on object ids, so they are cached by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forge.cache import LRU
from forge.errors import NotFound
from forge.git.browse import Change as FileChange
from forge.git.browse import CommitInfo, Entry, Missing, RepoReader
from forge.models import Change, Repository
from forge.repos.browse import is_binary, reading, split_path
from forge.repos.diffs import diff_lines, split_lines
from forge.repos.highlight import MAX_BYTES, MAX_LINES

MAX_COMMITS = 250  # commits of a change listed, as GitHub lists at most 250
MAX_FILES = 3000  # files of a diff listed, as GitHub lists at most 3000

_PATCHES = LRU(32 * 1024 * 1024, weigh=lambda files: 256 + sum(f.weight for f in files))


@dataclass(frozen=True)
class Content:
    """A file (with its bytes) or a folder (with its entries) at a revision."""

    entry: Entry
    revision: str  # the commit it was read from
    data: bytes | None = None
    entries: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class FilePatch:
    """One changed file: counts of added and removed lines and the unified diff's hunks
    (None for binary files, submodules and files too large to diff)."""

    change: FileChange
    additions: int
    deletions: int
    patch: str | None

    @property
    def weight(self) -> int:
        return 256 + len(self.patch or "")


@dataclass(frozen=True)
class CommitDetail:
    commit: CommitInfo
    files: list[FilePatch]

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


@dataclass(frozen=True)
class ChangeStats:
    commits: int
    additions: int
    deletions: int
    changed_files: int


def contents(repos_dir: Path, repo: Repository, path: str, ref: str | None = None) -> Content:
    """The file or folder at `path` ('' is the root) in `ref` (default: the default branch)."""
    path = path.strip("/")
    if path:
        split_path(path)
    with reading(repos_dir, repo) as reader:
        ref = ref or reader.default_branch(repo.default_branch)
        if not ref:
            raise NotFound("the repository is empty")
        commit = reader.revision(ref).commit
        entry = reader.entry(commit, path)
        if entry.kind == "tree":
            return Content(entry, commit, entries=tuple(reader.list_tree(entry.sha, path)))
        if entry.kind == "submodule":
            return Content(entry, commit, data=b"")
        return Content(entry, commit, data=reader.blob(entry.sha))


def commit_detail(repos_dir: Path, repo: Repository, ref: str) -> CommitDetail:
    """A commit (by id, branch or tag) and the patch of each file it changed from its first
    parent (from nothing for a root commit)."""
    with reading(repos_dir, repo) as reader:
        info = reader.commit(reader.revision(ref).commit)
        old_tree = reader.commit(info.parents[0]).tree if info.parents else None
        return CommitDetail(info, _patches(reader, old_tree, info.tree))


def change_commits(repos_dir: Path, change: Change) -> list[CommitInfo]:
    """The commits of the change's current patch set, oldest first."""
    patch_set = change.current_patch_set
    with reading(repos_dir, change.repository) as reader:
        found = reader.commits_between(patch_set.base_sha, patch_set.head_sha, MAX_COMMITS)
    return list(reversed(found))


def change_files(repos_dir: Path, change: Change) -> list[FilePatch]:
    """The files the change's current patch set changes, from its merge base with the target."""
    patch_set = change.current_patch_set
    with reading(repos_dir, change.repository) as reader:
        old_tree = reader.commit(patch_set.base_sha).tree
        return _patches(reader, old_tree, reader.commit(patch_set.head_sha).tree)


def change_stats(repos_dir: Path, change: Change) -> ChangeStats:
    files = change_files(repos_dir, change)
    return ChangeStats(
        commits=len(change_commits(repos_dir, change)),
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        changed_files=len(files),
    )


def patches_between(reader: RepoReader, old_tree: str | None, new_tree: str) -> list[FilePatch]:
    """The patch of each file changed from one tree to another (None: from nothing)."""
    return _patches(reader, old_tree, new_tree)


def _patches(reader: RepoReader, old_tree: str | None, new_tree: str) -> list[FilePatch]:
    key = (reader.key, old_tree, new_tree)
    return _PATCHES.get_or_compute(
        key, lambda: [_patch(reader, c) for c in reader.changes(old_tree, new_tree)[:MAX_FILES]]
    )


def _patch(reader: RepoReader, change: FileChange) -> FilePatch:
    if 0o160000 in (change.old_mode, change.new_mode):
        return FilePatch(change, 0, 0, None)
    try:
        old = reader.blob(change.old_sha) if change.old_sha else b""
        new = reader.blob(change.new_sha) if change.new_sha else b""
    except Missing:
        return FilePatch(change, 0, 0, None)
    too_large = (
        max(len(old), len(new)) > MAX_BYTES or max(old.count(b"\n"), new.count(b"\n")) >= MAX_LINES
    )
    if is_binary(old) or is_binary(new) or too_large:
        return FilePatch(change, 0, 0, None)
    old_lines, new_lines = split_lines(old), split_lines(new)
    hunks, added, removed = diff_lines(old_lines, new_lines, old_lines, new_lines)
    text = []
    for hunk in hunks:
        text.append(hunk.header)
        text.extend(line.sign + line.html for line in hunk.lines)
    return FilePatch(change, added, removed, "\n".join(text) if text else None)
