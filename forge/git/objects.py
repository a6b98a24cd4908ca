"""Raw git objects by id, as GitHub's git data API shows them: an object's kind, a tree's
entries (a whole tree walked, up to a limit), a blob's bytes."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass

from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo

SHA = re.compile(r"[0-9a-f]{40}")
KINDS = {Blob: "blob", Tree: "tree", Commit: "commit", Tag: "tag"}


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: int
    kind: str  # blob, tree or commit (a submodule)
    sha: str
    size: int | None  # a blob's bytes; None for the others

    @property
    def mode_text(self) -> str:
        return f"{self.mode:06o}"


def kind_of(repo: Repo, sha: str) -> str | None:
    """'blob', 'tree', 'commit' or 'tag'; None for what is not a full id of an object here."""
    if not isinstance(sha, str) or not SHA.fullmatch(sha) or sha.encode() not in repo.object_store:
        return None
    return KINDS.get(type(repo.object_store[sha.encode()]))


def commit_tree(repo: Repo, sha: str) -> str:
    return repo.object_store[sha.encode()].tree.decode()


def blob_bytes(repo: Repo, sha: str) -> bytes:
    return repo.object_store[sha.encode()].as_raw_string()


def tree_entries(
    repo: Repo, tree: str, recursive: bool, limit: int
) -> tuple[list[TreeEntry], bool]:
    """The tree's entries (with `recursive`, every entry below it, folders before their
    contents, as git ls-tree -r -t), at most `limit`; and whether some were left out."""
    store = repo.object_store
    found: list[TreeEntry] = []
    pending = [(tree.encode(), "")]
    while pending:
        sha, prefix = pending.pop(0)
        below = []
        for item in store[sha].iteritems():
            path = prefix + item.path.decode("utf-8", "replace")
            if item.mode == 0o160000:
                kind, size = "commit", None
            elif stat.S_ISDIR(item.mode):
                kind, size = "tree", None
                if recursive:
                    below.append((item.sha, path + "/"))
            else:
                kind, size = "blob", len(store[item.sha].as_raw_string())
            if len(found) >= limit:
                return found, True
            found.append(TreeEntry(path, item.mode, kind, item.sha.decode(), size))
        pending[:0] = below
    return found, False
