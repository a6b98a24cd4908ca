"""Merging change requests on the server, from objects alone: no work tree, no `git` process.

What a change consists of (`merge_base`, `commits_between`), whether it merges cleanly
(`check_mergeable`, which writes nothing), the three ways it lands (`merge_commit`,
`squash_commit`, `rebase_commits`: they write the new objects but move no ref; the caller
moves the branch through `forge.repos.refs`), and what changed between two patch sets
(`interdiff`).

How the tree merge decides, path by path (as git's default "ort" strategy does, less rename
detection):

- A side that left an entry (mode and object) as the merge base had it takes the other
  side's. Subtrees are compared by sha and opened only where both sides changed them, so the
  cost follows the size of the change, not of the repository.
- Text files changed on both sides are merged line by line (merge3); edits that overlap or
  touch each other conflict, as in git.
- Binary files (a NUL byte in the first 8000 bytes, git's test), symlinks and submodules
  (gitlinks) changed differently on both sides conflict; changed on one side they are taken
  as they are. A submodule's commits are never looked at.
- The executable bit merges apart from the content: chmod on one side, edits on the other,
  and the result has both.
- Conflicts: content, add/add with different content or mode, modify/delete, a file where
  the other side has a directory, and a type change (file, symlink, submodule) on one side
  against a change on the other.
- Renames are not detected: a rename is a delete plus an add. A rename on one side with
  edits to the old path on the other is therefore a modify/delete conflict (git would carry
  the edits to the new path), and a file added under a directory the other side renamed stays
  in the old directory. Without edits on the other side, a rename merges as git merges it.
- With several merge bases (criss-cross history) the bases are first merged into a virtual
  one, as git does. What that inner merge cannot resolve keeps the base's version (text:
  conflict markers), so it conflicts again if both sides touch it.
- .gitattributes merge drivers are not run.
"""

from __future__ import annotations

import difflib
import functools
import io
import stat
import time as clock
from collections.abc import Iterable
from dataclasses import dataclass

from dulwich.graph import can_fast_forward, find_merge_base
from dulwich.objects import S_ISGITLINK, Blob, Commit, ShaFile, Tree
from dulwich.patch import is_binary, write_object_diff
from dulwich.repo import Repo
from dulwich.walk import ORDER_TOPO, Walker
from merge3 import Merge3

from forge.cache import LRU

# A tree entry as (mode, sha); None where a side has nothing at that path.
Entry = tuple[int, bytes]
_DIRECTORY = stat.S_IFDIR
# difflib's autojunk heuristic drops frequent lines (blank lines, braces) from the matching
# in files of 200 lines or more, which misplaces hunks and invents conflicts.
_LINE_MATCHER = functools.partial(difflib.SequenceMatcher, autojunk=False)
# Whether `head` merges into `base_tip`, by (objects directory, base_tip, head): commits never
# change, so neither does the answer, and a change's page asks it on every view.
_MERGEABLE = LRU(4 * 1024 * 1024, weigh=lambda conflicts: 200 + sum(60 + len(p) for p in conflicts))


@dataclass
class Identity:
    """Who authored or committed: `time` in seconds since the epoch (None: now), `tz` the
    offset from UTC in seconds, east positive (+0200 is 7200)."""

    name: str
    email: str
    time: int | None = None
    tz: int = 0

    def signature(self) -> bytes:
        if not self.name.strip() or any(c in self.name + self.email for c in "<>\n\0"):
            raise ValueError(f"not a valid identity: {self.name!r} <{self.email!r}>")
        return f"{self.name} <{self.email}>".encode()

    def when(self) -> int:
        return int(clock.time()) if self.time is None else self.time


class MergeConflict(Exception):
    """The merge (or, with `commit`, replaying that commit in a rebase) conflicts in `paths`."""

    def __init__(self, paths: Iterable[str], commit: str | None = None):
        self.paths = sorted(set(paths))
        self.commit = commit
        shown = ", ".join(self.paths[:10])
        if len(self.paths) > 10:
            shown += f" and {len(self.paths) - 10} more"
        where = f" applying {commit[:12]}" if commit else ""
        super().__init__(f"merge conflict{where} in {shown}")


# --- what a change consists of ----------------------------------------------------------------


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of `a` and `b` (the newest one when there are several, as
    `git merge-base` prints), or None when their histories are unrelated."""
    bases = find_merge_base(repo, [a.encode(), b.encode()])
    return bases[-1].decode() if bases else None


def commits_between(repo: Repo, base: str | None, head: str) -> list[str]:
    """Commits reachable from `head` but not from `base` (all of them without a base), oldest
    first: every commit comes after its parents."""
    return [sha.decode() for sha in _commits_between(repo, base, head)]


def _commits_between(repo: Repo, base: str | None, head: str) -> list[bytes]:
    walker = Walker(
        repo.object_store,
        include=[head.encode()],
        exclude=[base.encode()] if base else [],
        order=ORDER_TOPO,
        reverse=True,
    )
    return [entry.commit.id for entry in walker]


# --- merging ----------------------------------------------------------------------------------


def check_mergeable(repo: Repo, base_tip: str, head: str) -> list[str]:
    """The paths that conflict when merging `head` into `base_tip` ([] when it merges
    cleanly). Nothing is written to the repository."""
    key = (repo.object_store.path, base_tip, head)
    conflicts = _MERGEABLE.get(key)
    if conflicts is None:
        _tree, conflicts = _merge_commits(_Objects(repo), base_tip.encode(), head.encode())
        _MERGEABLE.put(key, tuple(conflicts))
    return list(conflicts)


def merge_commit(
    repo: Repo, base_tip: str, head: str, author: Identity, committer: Identity, message: str
) -> str:
    """A merge commit with parents (base_tip, head) and the merged tree; always a merge
    commit, even when `head` already contains `base_tip` (GitHub's "Create a merge commit")."""
    objects = _Objects(repo)
    tree = _clean_merge(objects, base_tip, head)
    parents = [base_tip.encode(), head.encode()]
    return objects.save(objects.add(_commit(tree, parents, author, committer, message)))


def squash_commit(
    repo: Repo, base_tip: str, head: str, author: Identity, committer: Identity, message: str
) -> str:
    """One commit on top of `base_tip` with the merged tree: the whole change as one."""
    objects = _Objects(repo)
    tree = _clean_merge(objects, base_tip, head)
    return objects.save(objects.add(_commit(tree, [base_tip.encode()], author, committer, message)))


def rebase_commits(repo: Repo, base_tip: str, head: str, committer: Identity) -> str:
    """Replay the change's commits onto `base_tip`, oldest first, and return the new tip.

    Each replayed commit keeps its author (and author date) and message; `committer` commits
    it. Returns `head` itself when it already contains `base_tip` (a fast-forward). As
    `git rebase` does, merge commits inside the change are left out (their parents' changes
    are replayed), a commit whose change `base_tip` already has is dropped, and a commit that
    was empty from the start is kept. Raises MergeConflict naming the commit that conflicts.
    """
    if can_fast_forward(repo, base_tip.encode(), head.encode()):
        return head
    return rebase_onto(repo, base_tip, merge_base(repo, base_tip, head), head, committer)


def rebase_onto(repo: Repo, onto: str, upstream: str | None, head: str, committer: Identity) -> str:
    """`git rebase --onto ONTO UPSTREAM HEAD`: replay the commits of `head` that `upstream`
    lacks onto `onto` (as `rebase_commits`, which picks the merge base as `upstream`). A chain's
    child moves so onto its parent's new patch set, leaving the parent's old one behind."""
    objects = _Objects(repo)
    base_tip = onto
    tip = base_tip.encode()
    tip_tree = objects.commit(tip).tree
    for sha in _commits_between(repo, upstream, head):
        original = objects.commit(sha)
        if len(original.parents) > 1:
            continue
        parent_tree = objects.commit(original.parents[0]).tree if original.parents else None
        replay = _TreeMerge(objects)
        tree = replay.trees(parent_tree, tip_tree, original.tree)
        if replay.conflicts:
            raise MergeConflict(_names(replay.conflicts), commit=sha.decode())
        if tree == tip_tree and original.tree != parent_tree:
            continue
        replayed = Commit()
        replayed.tree = tree
        replayed.parents = [tip]
        replayed.author = original.author
        replayed.author_time = original.author_time
        replayed.author_timezone = original.author_timezone
        _set_committer(replayed, committer)
        replayed.encoding = original.encoding
        replayed.message = original.message
        tip = objects.add(replayed)
        tip_tree = tree
    return objects.save(tip) if tip != base_tip.encode() else base_tip


def interdiff(repo: Repo, old_base: str, old_head: str, new_base: str, new_head: str) -> bytes:
    """What the author changed from one patch set to the next, as a git-style unified diff.

    The old patch set is first replayed onto the new one's base (a three-way merge of its
    change onto that base, nothing written), so what upstream brought in by a rebase does
    not show, even inside files the change touches; the result is diffed against the new
    patch set, over the files either patch set touches relative to its own merge base. If
    the old patch set does not replay cleanly, its own tree stands in. Empty when the two
    patch sets make the same change.
    """
    objects = _Objects(repo)
    old_from = _tree_of_base(repo, objects, old_base, old_head)
    new_from = _tree_of_base(repo, objects, new_base, new_head)
    old_tree = objects.commit(old_head.encode()).tree
    new_tree = objects.commit(new_head.encode()).tree
    touched = set(_changed_files(objects, old_from, old_tree))
    touched |= set(_changed_files(objects, new_from, new_tree))
    replay = _TreeMerge(objects)
    replayed = replay.trees(old_from, new_from, old_tree)
    before = old_tree if replay.conflicts else replayed
    out = io.BytesIO()
    for path, (old, new) in sorted(_changed_files(objects, before, new_tree).items()):
        if path in touched:
            old_file = (path, *old) if old else (None, None, None)
            new_file = (path, *new) if new else (None, None, None)
            write_object_diff(out, objects, old_file, new_file)
    return out.getvalue()


# --- the tree merge ---------------------------------------------------------------------------


class _Objects:
    """The repository's objects, plus those a merge makes, kept in memory until saved."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self.store = repo.object_store
        self.new: dict[bytes, ShaFile] = {}

    def __getitem__(self, sha: bytes) -> ShaFile:
        found = self.new.get(sha)
        return found if found is not None else self.store[sha]

    def add(self, obj: ShaFile) -> bytes:
        self.new[obj.id] = obj
        return obj.id

    def commit(self, sha: bytes) -> Commit:
        obj = self[sha]
        if not isinstance(obj, Commit):
            raise ValueError(f"{sha.decode()} is a {obj.type_name.decode()}, not a commit")
        return obj

    def entries(self, sha: bytes | None) -> dict[bytes, Entry]:
        if sha is None:
            return {}
        return {name: (mode, entry_sha) for name, mode, entry_sha in self[sha].iteritems()}

    def save(self, root: bytes) -> str:
        """Write the new objects that `root` reaches to the repository, as one pack.

        Anything not made here came from the repository, and so did everything it reaches.
        """
        found: list[ShaFile] = []
        pending = [root]
        while pending:
            obj = self.new.pop(pending.pop(), None)
            if obj is None:
                continue
            found.append(obj)
            if isinstance(obj, Commit):
                pending.append(obj.tree)
                pending.extend(obj.parents)
            elif isinstance(obj, Tree):
                pending.extend(sha for _, mode, sha in obj.iteritems() if not S_ISGITLINK(mode))
        missing = [(obj, None) for obj in found if obj.id not in self.store]
        if missing:
            self.store.add_objects(missing)
        return root.decode()


def _clean_merge(objects: _Objects, base_tip: str, head: str) -> bytes:
    tree, conflicts = _merge_commits(objects, base_tip.encode(), head.encode())
    if conflicts:
        raise MergeConflict(conflicts)
    return tree


def _merge_commits(objects: _Objects, ours: bytes, theirs: bytes) -> tuple[bytes, list[str]]:
    repo_bases = find_merge_base(objects.repo, [ours, theirs])
    base = _virtual_base(objects, repo_bases)
    merge = _TreeMerge(objects)
    tree = merge.trees(base, objects.commit(ours).tree, objects.commit(theirs).tree)
    return tree, _names(merge.conflicts)


def _virtual_base(objects: _Objects, bases: list[bytes]) -> bytes | None:
    """The tree to merge against: the merge base's, or with several (oldest first, as
    find_merge_base gives them) their own merge, one after another, as git does."""
    if not bases:
        return None
    merged = [bases[0]]
    tree = objects.commit(bases[0]).tree
    for other in bases[1:]:
        # The merge bases of `other` and the virtual commit whose parents are `merged`.
        inner = find_merge_base(objects.repo, [other, *merged])
        tree = _TreeMerge(objects, virtual=True).trees(
            _virtual_base(objects, inner), tree, objects.commit(other).tree
        )
        merged.append(other)
    return tree


class _TreeMerge:
    """One three-way merge of trees. `conflicts` lists the paths it could not resolve; a
    `virtual` merge (of merge bases) resolves them anyway, as git does, and goes on."""

    def __init__(self, objects: _Objects, virtual: bool = False):
        self.objects = objects
        self.virtual = virtual
        self.conflicts: list[bytes] = []

    def trees(self, base: bytes | None, ours: bytes, theirs: bytes) -> bytes:
        merged = self._directory(b"", base, ours, theirs)
        return merged if merged is not None else self.objects.add(Tree())

    def _directory(
        self, path: bytes, base: bytes | None, ours: bytes | None, theirs: bytes | None
    ) -> bytes | None:
        """The merged subtree's sha, or None when nothing is left in it."""
        resolved = _trivial(base, ours, theirs)
        if resolved is not _UNRESOLVED:
            return resolved
        o, a, b = (self.objects.entries(sha) for sha in (base, ours, theirs))
        tree = Tree()
        for name in sorted(o.keys() | a.keys() | b.keys()):
            entry = self._entry(
                path + b"/" + name if path else name, o.get(name), a.get(name), b.get(name)
            )
            if entry is not None:
                tree.add(name, *entry)
        return self.objects.add(tree) if len(tree) else None

    def _entry(
        self, path: bytes, o: Entry | None, a: Entry | None, b: Entry | None
    ) -> Entry | None:
        resolved = _trivial(o, a, b)
        if resolved is not _UNRESOLVED:
            return resolved
        # A name can be a directory on one side and a file on another: merge the directories
        # and the files apart; both surviving is a file/directory conflict.
        directory = self._directory(path, _dir_sha(o), _dir_sha(a), _dir_sha(b))
        file = self._file(path, _file(o), _file(a), _file(b))
        if directory is not None and file is not None:
            self.conflicts.append(path)
        if directory is not None:
            return (_DIRECTORY, directory)
        return file

    def _file(self, path: bytes, o: Entry | None, a: Entry | None, b: Entry | None) -> Entry | None:
        resolved = _trivial(o, a, b)
        if resolved is not _UNRESOLVED:
            return resolved
        if a is None or b is None or stat.S_IFMT(a[0]) != stat.S_IFMT(b[0]):
            return self._unresolved(path, o, a, b)
        mode = _trivial(o and o[0], a[0], b[0])
        sha = _trivial(o and o[1], a[1], b[1])
        if sha is _UNRESOLVED and stat.S_ISREG(a[0]):
            sha = self._text(path, o and o[1], a[1], b[1])
        if mode is _UNRESOLVED or sha is _UNRESOLVED:
            return self._unresolved(path, o, a, b)
        return (mode, sha)

    def _text(self, path: bytes, o: bytes | None, a: bytes, b: bytes) -> bytes | object:
        """Merge a text file changed on both sides: its blob's sha, or _UNRESOLVED."""
        base = self.objects[o].data if o else b""
        ours, theirs = self.objects[a].data, self.objects[b].data
        if is_binary(base) or is_binary(ours) or is_binary(theirs):
            return _UNRESOLVED
        merged: list[bytes] = []
        clean = True
        for group in Merge3(
            _lines(base), _lines(ours), _lines(theirs), sequence_matcher=_LINE_MATCHER
        ).merge_groups():
            if group[0] == "conflict":
                clean = False
                merged += [
                    b"<<<<<<< ours\n",
                    *group[2],
                    b"=======\n",
                    *group[3],
                    b">>>>>>> theirs\n",
                ]
            else:
                merged.extend(group[1])
        if not clean and not self.virtual:
            return _UNRESOLVED
        if not clean:
            self.conflicts.append(path)
        return self.objects.add(Blob.from_string(b"".join(merged)))

    def _unresolved(
        self, path: bytes, o: Entry | None, a: Entry | None, b: Entry | None
    ) -> Entry | None:
        self.conflicts.append(path)
        # Only a virtual merge base uses what is returned here; git keeps the base's version.
        return o if o is not None else a if a is not None else b


_UNRESOLVED = object()


def _trivial(o, a, b):
    """Three-way choice of one value: a side that kept the base's value takes the other's."""
    if a == b or o == b:
        return a
    if o == a:
        return b
    return _UNRESOLVED


def _dir_sha(entry: Entry | None) -> bytes | None:
    return entry[1] if entry is not None and stat.S_ISDIR(entry[0]) else None


def _file(entry: Entry | None) -> Entry | None:
    return entry if entry is not None and not stat.S_ISDIR(entry[0]) else None


def _lines(data: bytes) -> list[bytes]:
    """Lines as git counts them: ended by LF only; the last one may lack it."""
    lines = data.split(b"\n")
    tail = lines.pop()
    result = [line + b"\n" for line in lines]
    if tail:
        result.append(tail)
    return result


def _names(paths: list[bytes]) -> list[str]:
    return sorted({path.decode("utf-8", "replace") for path in paths})


def _changed_files(
    objects: _Objects, old: bytes | None, new: bytes | None, prefix: bytes = b""
) -> dict[bytes, tuple[Entry | None, Entry | None]]:
    """Every file (blob, symlink, gitlink) that differs between two trees, by path, with its
    old and new entry; subtrees with the same sha are not opened."""
    changed: dict[bytes, tuple[Entry | None, Entry | None]] = {}
    if old == new:
        return changed
    a, b = objects.entries(old), objects.entries(new)
    for name in a.keys() | b.keys():
        path = prefix + b"/" + name if prefix else name
        before, after = a.get(name), b.get(name)
        if before == after:
            continue
        changed.update(_changed_files(objects, _dir_sha(before), _dir_sha(after), path))
        before, after = _file(before), _file(after)
        if before != after:
            changed[path] = (before, after)
    return changed


def _tree_of_base(repo: Repo, objects: _Objects, base: str, head: str) -> bytes | None:
    found = merge_base(repo, base, head)
    return objects.commit(found.encode()).tree if found else None


def _commit(
    tree: bytes, parents: list[bytes], author: Identity, committer: Identity, message: str
) -> Commit:
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author = author.signature()
    commit.author_time = author.when()
    commit.author_timezone = author.tz
    _set_committer(commit, committer)
    commit.message = message.encode() if message.endswith("\n") else (message + "\n").encode()
    return commit


def _set_committer(commit: Commit, committer: Identity) -> None:
    commit.committer = committer.signature()
    commit.commit_time = committer.when()
    commit.commit_timezone = committer.tz
