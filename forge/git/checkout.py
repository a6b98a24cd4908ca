"""Writing a commit's tree into a fresh directory (a CI job's workspace), with dulwich.

Only names git itself allows are written, each created new (O_EXCL, O_NOFOLLOW) inside a
directory this code made, so neither a hostile name nor a symlink in the tree can make a
write land outside the workspace. Symlinks are written as symlinks and never followed;
submodules (gitlinks) become empty directories.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dulwich.objects import Commit, Tree
from dulwich.repo import Repo

from forge.cache import LRU

_GITLINK = 0o160000


class CheckoutError(Exception):
    """The commit cannot be written out (it is missing, or holds a name no tree may hold)."""


# Small files read at a commit, by (repository, commit, path): a commit never changes, and the
# change page asks for the CI configuration at two commits on every view.
_SMALL_FILES = LRU(8 * 1024 * 1024, weigh=lambda data: 100 + len(data or b""))
_SMALL = 64 * 1024


def read_file_at(repo_path: Path, sha: str, path: str) -> bytes | None:
    """The contents of a file at a commit, or None when there is no such (regular) file."""
    key = (str(repo_path), sha, path)
    found = _SMALL_FILES.get(key, _SMALL_FILES)
    if found is not _SMALL_FILES:
        return found
    complete, data = _read_file_at(repo_path, sha, path)
    if complete and (data is None or len(data) <= _SMALL):
        _SMALL_FILES.put(key, data)
    return data


def _read_file_at(repo_path: Path, sha: str, path: str) -> tuple[bool, bytes | None]:
    """(whether every object asked for was there, the file's contents): an answer given for
    want of an object may change once a push brings it, so it is not remembered."""
    repo = Repo(str(repo_path))
    try:
        obj = repo.object_store[repo[sha.encode()].tree]
        for part in path.split("/"):
            if not isinstance(obj, Tree) or part.encode() not in obj:
                return True, None
            mode, child = obj[part.encode()]
            if stat.S_ISLNK(mode):
                return True, None
            obj = repo.object_store[child]
        return True, (obj.data if obj.type_name == b"blob" else None)
    except KeyError:
        return False, None
    finally:
        repo.close()


def checkout(repo_path: Path, sha: str, dest: Path) -> int:
    """Write the tree of commit `sha` into `dest`, which must not exist; returns files written."""
    repo = Repo(str(repo_path))
    try:
        try:
            commit = repo[sha.encode()]
        except KeyError:
            raise CheckoutError(f"commit {sha} is not in the repository") from None
        if not isinstance(commit, Commit):
            raise CheckoutError(f"{sha} is not a commit")
        os.mkdir(dest, 0o755)
        return _write_tree(repo, commit.tree, os.open(dest, os.O_RDONLY | os.O_DIRECTORY))
    finally:
        repo.close()


def _safe_name(name: bytes) -> str:
    if (
        not name
        or name in (b".", b"..")
        or b"/" in name
        or b"\0" in name
        or name.lower() == b".git"
    ):
        raise CheckoutError(f"the tree holds a name that cannot be checked out: {name!r}")
    return os.fsdecode(name)


def _write_tree(repo: Repo, tree_sha: bytes, dir_fd: int) -> int:
    written = 0
    try:
        tree = repo.object_store[tree_sha]
        for entry in tree.iteritems():
            name = _safe_name(entry.path)
            mode = entry.mode
            if stat.S_ISDIR(mode) or mode == _GITLINK:
                os.mkdir(name, 0o755, dir_fd=dir_fd)
                if mode != _GITLINK:
                    child = os.open(
                        name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd
                    )
                    written += _write_tree(repo, entry.sha, child)
            elif stat.S_ISLNK(mode):
                os.symlink(repo.object_store[entry.sha].data, name, dir_fd=dir_fd)
                written += 1
            else:
                perms = 0o755 if mode & 0o100 else 0o644
                fd = os.open(
                    name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, perms, dir_fd=dir_fd
                )
                os.fchmod(fd, perms)  # whatever the umask
                with os.fdopen(fd, "wb") as out:
                    out.write(repo.object_store[entry.sha].data)
                written += 1
    finally:
        os.close(dir_fd)
    return written
