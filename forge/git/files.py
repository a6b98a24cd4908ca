"""A branch's files as search indexes them: every regular file of a commit, what changed
between two commits, and a blob's bytes (symbolic links and submodules are not files here)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass

from dulwich.diff_tree import tree_changes
from dulwich.repo import Repo


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha: str


def _is_file(mode: int | None) -> bool:
    return mode is not None and stat.S_ISREG(mode)


def branch_head(repo: Repo, branch: str) -> str | None:
    sha = repo.refs.as_dict().get(f"refs/heads/{branch}".encode())
    return sha.decode() if sha else None


def has_commit(repo: Repo, sha: str) -> bool:
    return bool(sha) and sha.encode() in repo.object_store


def files_of(repo: Repo, commit: str) -> Iterator[FileEntry]:
    """Every regular file of the commit's tree, in path order."""
    store = repo.object_store
    tree = store[commit.encode()].tree
    for item in store.iter_tree_contents(tree):
        if _is_file(item.mode):
            yield FileEntry(item.path.decode("utf-8", "replace"), item.sha.decode())


def changed_files(repo: Repo, old: str, new: str) -> tuple[list[FileEntry], list[str]]:
    """Between two commits: the files added or changed (with their new blobs) and the paths
    that are no longer files."""
    store = repo.object_store
    written: list[FileEntry] = []
    gone: list[str] = []
    for change in tree_changes(store, store[old.encode()].tree, store[new.encode()].tree):
        old_entry, new_entry = change.old, change.new
        if new_entry is not None and new_entry.path is not None and _is_file(new_entry.mode):
            written.append(FileEntry(new_entry.path.decode("utf-8", "replace"),
                                     new_entry.sha.decode()))  # fmt: skip
        elif old_entry is not None and old_entry.path is not None:
            gone.append(old_entry.path.decode("utf-8", "replace"))
        if (
            old_entry is not None and old_entry.path is not None and new_entry is not None
            and new_entry.path is not None and old_entry.path != new_entry.path
        ):  # fmt: skip
            gone.append(old_entry.path.decode("utf-8", "replace"))
    return written, gone


def blob_bytes(repo: Repo, sha: str) -> bytes:
    return repo.object_store[sha.encode()].as_raw_string()
