"""The files a ref change adds: blobs reachable from its new tips and from no ref the
repository already had, each with the path and the commit that first brought it.

Push protection (`forge.repos.push_protection`) scans these and nothing else, so a secret
already on the server is never reported again: a commit reachable from an existing ref is
not walked, and a tree or blob that an old commit at the boundary of the push already holds
is not entered (as git's own rev-list --objects with the old tips negated).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dulwich.objects import S_ISGITLINK, Commit, Tag, Tree
from dulwich.pack import DELTA_TYPES
from dulwich.repo import Repo
from dulwich.walk import Walker

from forge.git.quarantine import _delta_result_size  # the one reader of a delta's sizes

ZERO = "0" * 40


@dataclass(frozen=True)
class AddedBlob:
    sha: bytes
    path: str
    commit: str


# The refs whose commits count as already on the server. Not every ref: a repository's refs
# of changes (refs/changes/*, refs/pull/*) run to thousands, and reading each one's commit to
# exclude it cost seconds a push (5.5 s for one commit on a mirror of git.git); a commit only
# such a ref holds is scanned again when it lands on a branch, which finds nothing new.
OLD_SIDE = (b"HEAD", b"refs/heads/", b"refs/tags/")


def new_commits(git: Repo, new_tips: list[str], old_tips: list[str] = ()) -> list[Commit]:
    """The commits `new_tips` reach that no branch, tag or `old_tips` reaches, oldest first.
    Read while the push's objects are visible and before its refs move: the refs are the
    repository's old ones."""
    store = git.object_store
    include = [sha for sha in (_peel_to_commit(store, tip) for tip in new_tips) if sha]
    if not include:
        return []
    old = {sha.encode() for sha in old_tips if sha != ZERO}
    for name, sha in git.refs.as_dict().items():  # without a dangling HEAD (a new repository)
        if name.startswith(OLD_SIDE):
            # packed-refs' peeled value where there is one: no object read for it.
            peeled = git.refs.get_peeled(name) or _peel_to_commit(store, sha.decode())
            if peeled:
                old.add(peeled)
    exclude = [sha for sha in old if sha not in include]
    return [entry.commit for entry in Walker(store, include, exclude=exclude, reverse=True)]


def added_blobs(git: Repo, commits: list[Commit], newest: int | None = None) -> Iterator[AddedBlob]:
    """The blobs `commits` (new_commits') add, each named by the first of them that has it.
    With `newest`, only the newest that many commits' trees are walked: the files of older
    ones are met at the oldest walked commit if they are still there, else not at all."""
    store = git.object_store
    new = {commit.id for commit in commits}
    walked = commits[-newest:] if newest else commits
    seen: set[bytes] = set()  # trees and blobs already on the server or met earlier
    marked: set[bytes] = set()
    for commit in walked:
        for parent in commit.parents:
            if parent in new or parent in marked:
                continue
            marked.add(parent)
            # Not `parent in store`: a push's overlay store answers that for loose objects only.
            try:
                boundary = store[parent]
            except KeyError:
                continue  # a shallow push's edge: nothing older to compare with
            # The boundary: what the old side holds is not new, whatever path it is at.
            _mark_tree(store, boundary.tree, seen)
    for commit in walked:
        yield from _new_in_tree(store, commit.tree, b"", commit.id.decode(), seen)


def _peel_to_commit(store, sha: str) -> bytes | None:
    if sha == ZERO:
        return None
    try:
        obj = store[sha.encode()]
        while isinstance(obj, Tag):
            obj = store[obj.object[1]]
    except KeyError:
        return None
    return obj.id if isinstance(obj, Commit) else None


def _mark_tree(store, tree_sha: bytes, seen: set[bytes]) -> None:
    stack = [tree_sha]
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        tree = store[sha]
        for entry in tree.iteritems():
            if S_ISGITLINK(entry.mode):
                continue
            if entry.mode & 0o170000 == 0o040000:
                stack.append(entry.sha)
            else:
                seen.add(entry.sha)


def _new_in_tree(
    store, tree_sha: bytes, prefix: bytes, commit: str, seen: set[bytes]
) -> Iterator[AddedBlob]:
    if tree_sha in seen:
        return
    seen.add(tree_sha)
    tree: Tree = store[tree_sha]
    for entry in tree.iteritems():
        if S_ISGITLINK(entry.mode) or entry.sha in seen:
            continue
        path = prefix + entry.path
        if entry.mode & 0o170000 == 0o040000:
            yield from _new_in_tree(store, entry.sha, path + b"/", commit, seen)
        elif entry.mode & 0o170000 == 0o100000:  # a file; a symlink's target is no secret
            seen.add(entry.sha)
            yield AddedBlob(entry.sha, path.decode("utf-8", "replace"), commit)


def blob_size(store, sha: bytes) -> int | None:
    """A packed object's size from its header (or its delta's), without inflating it whole:
    a 100 MiB file is skipped for its size without being read. None when not packed."""
    for base in getattr(store, "bases", [store]):
        for pack in base.packs:
            try:
                offset = pack.index.object_offset(sha)
            except KeyError:
                continue
            unpacked = pack.data.get_unpacked_object_at(offset)
            if unpacked.pack_type_num not in DELTA_TYPES:
                return unpacked.decomp_len
            return _delta_result_size(b"".join(unpacked.decomp_chunks))
    return None
