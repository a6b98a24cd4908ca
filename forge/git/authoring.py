"""Writing objects without a work tree: a commit that writes or deletes one file on top of
another commit (GitHub's contents API), and blobs, trees and commits built from parts
(GitHub's git data API). Nothing here moves a ref; forge.repos.refs does that, through the
same checks as a push.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from dulwich.objects import Blob, Commit, ShaFile, Tree
from dulwich.repo import Repo

from forge.git.merge import Identity

FILE_MODES = {0o100644: "blob", 0o100755: "blob", 0o120000: "blob", 0o040000: "tree"}
SUBMODULE_MODE = 0o160000


class AuthoringError(ValueError):
    """What was asked cannot be written: a missing object, a path in the way, a bad mode.
    `field` names the part of the request that was wrong."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PathMissing(AuthoringError):
    """The file to delete (or a folder on its way) is not in the tree."""


@dataclass(frozen=True)
class TreeItem:
    """One entry of a tree to build: `sha` an existing object, `content` new file bytes, or
    both None to remove `path` from the base tree."""

    path: str
    mode: int
    sha: str | None = None
    content: bytes | None = None


class _Pending:
    """New objects, written to the repository in one go once all of them are made."""

    def __init__(self, repo: Repo):
        self.store = repo.object_store
        self.new: dict[bytes, ShaFile] = {}

    def __getitem__(self, sha: bytes) -> ShaFile:
        found = self.new.get(sha)
        return found if found is not None else self.store[sha]

    def has(self, sha: bytes) -> bool:
        return sha in self.new or sha in self.store

    def add(self, obj: ShaFile) -> bytes:
        self.new[obj.id] = obj
        return obj.id

    def save(self) -> None:
        missing = [(obj, None) for obj in self.new.values() if obj.id not in self.store]
        if missing:
            self.store.add_objects(missing)
        self.new = {}


def _names(path: str) -> list[bytes]:
    names = [part for part in path.split("/") if part]
    if not names or any(n in (".", "..", ".git") for n in names):
        raise AuthoringError(f"{path!r} is not a path a repository can hold", field="path")
    return [n.encode() for n in names]


def _tree_of(objects: _Pending, sha: bytes | None) -> Tree:
    tree = Tree()
    if sha is not None:
        old = objects[sha]
        if not isinstance(old, Tree):
            raise AuthoringError(f"{sha.decode()} is not a tree", field="base_tree")
        for item in old.iteritems():
            tree.add(item.path, item.mode, item.sha)
    return tree


def _set_path(
    objects: _Pending, tree_sha: bytes | None, names: list[bytes], value: tuple[int, bytes] | None
) -> bytes | None:
    """The tree `tree_sha` with `names` set to (mode, sha), or removed for None; None when
    what is left is empty (git keeps no empty folders)."""
    tree = _tree_of(objects, tree_sha)
    name = names[0]
    if len(names) == 1:
        if value is None:
            if name not in tree:
                raise PathMissing(f"{name.decode('utf-8', 'replace')} does not exist", "path")
            del tree[name]
        else:
            if name in tree and stat.S_ISDIR(tree[name][0]) and not stat.S_ISDIR(value[0]):
                raise AuthoringError(f"{name.decode()} is a folder, not a file", field="path")
            tree.add(name, value[0], value[1])
    else:
        below = None
        if name in tree:
            mode, below = tree[name]
            if not stat.S_ISDIR(mode):
                raise AuthoringError(f"{name.decode()} is a file, not a folder", field="path")
        elif value is None:
            raise PathMissing(f"{name.decode('utf-8', 'replace')} does not exist", "path")
        sub = _set_path(objects, below, names[1:], value)
        if sub is None:
            del tree[name]
        else:
            tree.add(name, 0o040000, sub)
    if not len(tree):
        return None
    return objects.add(tree)


def _commit(
    tree: bytes, parents: list[bytes], author: Identity, committer: Identity, message: str
) -> Commit:
    try:
        author_sig, committer_sig = author.signature(), committer.signature()
    except ValueError as exc:
        raise AuthoringError(str(exc), field="author") from None
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author, commit.author_time, commit.author_timezone = (
        author_sig,
        author.when(),
        author.tz,
    )
    commit.committer, commit.commit_time, commit.commit_timezone = (
        committer_sig,
        committer.when(),
        committer.tz,
    )
    commit.message = (message if message.endswith("\n") else message + "\n").encode()
    return commit


def file_at(repo: Repo, commit: str | None, path: str) -> tuple[int, str] | None:
    """(mode, blob id) of the file at `path` in `commit`, or None if there is none there."""
    if commit is None:
        return None
    objects = _Pending(repo)
    sha = objects[commit.encode()].tree
    for name in _names(path):
        tree = objects[sha]
        if not isinstance(tree, Tree) or name not in tree:
            return None
        mode, sha = tree[name]
    return (mode, sha.decode()) if not stat.S_ISDIR(mode) else None


def commit_file(
    repo: Repo,
    parent: str | None,
    path: str,
    content: bytes | None,
    author: Identity,
    committer: Identity,
    message: str,
) -> str:
    """A commit on `parent` (None: the first commit) where `path` holds `content`, or, for
    None, where the file is gone; written to the repository, no ref moved."""
    objects = _Pending(repo)
    base_tree = objects[parent.encode()].tree if parent else None
    value = None
    if content is not None:
        existing = file_at(repo, parent, path)
        mode = existing[0] if existing else 0o100644  # an update keeps the executable bit
        value = (mode, objects.add(Blob.from_string(content)))
    tree = _set_path(objects, base_tree, _names(path), value)
    if tree is None:
        tree = objects.add(Tree())  # the last file went: git's empty tree
    parents = [parent.encode()] if parent else []
    sha = objects.add(_commit(tree, parents, author, committer, message))
    objects.save()
    return sha.decode()


def create_blob(repo: Repo, data: bytes) -> str:
    objects = _Pending(repo)
    sha = objects.add(Blob.from_string(data))
    objects.save()
    return sha.decode()


def create_tree(repo: Repo, base_tree: str | None, items: list[TreeItem]) -> str:
    """A tree: `base_tree`'s entries (if given) with `items` written over them or removed."""
    objects = _Pending(repo)
    base = None
    if base_tree is not None:
        base = base_tree.encode()
        if not objects.has(base) or not isinstance(objects[base], Tree):
            raise AuthoringError(f"base_tree {base_tree} is not a tree here", field="base_tree")
    tree = base
    for item in items:
        if item.mode not in (*FILE_MODES, SUBMODULE_MODE):
            raise AuthoringError(f"mode {item.mode:o} is not a git mode", field="mode")
        value = None
        if item.content is not None:
            value = (item.mode, objects.add(Blob.from_string(item.content)))
        elif item.sha is not None:
            sha = item.sha.encode()
            if item.mode != SUBMODULE_MODE:
                if not objects.has(sha):
                    raise AuthoringError(f"object {item.sha} does not exist", field="sha")
                wanted = Tree if item.mode == 0o040000 else Blob
                if not isinstance(objects[sha], wanted):
                    raise AuthoringError(f"{item.sha} is not a {wanted.type_name.decode()}", "sha")
            value = (item.mode, sha)
        elif tree is None:
            raise PathMissing(f"{item.path} does not exist", field="path")
        tree = _set_path(objects, tree, _names(item.path), value)
    if tree is None:
        tree = objects.add(Tree())
    objects.save()
    return tree.decode()


def create_commit(
    repo: Repo,
    tree: str,
    parents: list[str],
    author: Identity,
    committer: Identity,
    message: str,
) -> str:
    objects = _Pending(repo)
    if not objects.has(tree.encode()) or not isinstance(objects[tree.encode()], Tree):
        raise AuthoringError(f"tree {tree} does not exist", field="tree")
    for parent in parents:
        if not objects.has(parent.encode()) or not isinstance(objects[parent.encode()], Commit):
            raise AuthoringError(f"parent {parent} is not a commit here", field="parents")
    sha = objects.add(
        _commit(tree.encode(), [p.encode() for p in parents], author, committer, message)
    )
    objects.save()
    return sha.decode()
