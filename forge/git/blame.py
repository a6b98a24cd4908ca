"""Blame as `git blame` computes it: the same commit for every line, merges included.

A blame walks history from the head, newest commit first, carrying each line of the file as a
"suspect" of the commit it was last seen in (git's blame.c: assign_blame, pass_blame). A commit
hands all its suspects to the first parent holding the very same file; otherwise each parent in
turn takes the lines that git's diff (forge.git.xdiff, a port of it) finds unchanged, and the
lines no parent takes are the commit's own. A path missing from a parent is looked for among
the files that parent had and the commit deleted (git's whole-file rename detection, on by
default in blame). Diffing line by line against the first parent only, as dulwich's annotate
does, names a merge for every line the merge brought in from its second parent.
"""

from __future__ import annotations

import heapq
import posixpath
import stat
from dataclasses import dataclass, field

from dulwich.diff_tree import _similarity_score, tree_changes
from dulwich.objects import Blob

from forge.git.xdiff import match_lines, split_records

# Scores out of 100, as git's 50% default for -M and its stricter bar for a file that keeps
# its name in another folder (diffcore-rename.c: min_basename_score).
RENAME_SCORE = 50
BASENAME_SCORE = 75


@dataclass
class _Origin:
    """A file at a path in a commit, and the lines of the final file still suspected of being
    written there: (line in this blob, line in the final file)."""

    commit: bytes
    path: bytes
    mode: int
    blob: bytes
    suspects: list[tuple[int, int]] = field(default_factory=list)


class _Blame:
    def __init__(self, reader):
        self.reader = reader
        self.origins: dict[tuple[bytes, bytes], _Origin] = {}
        self.by_commit: dict[bytes, list[_Origin]] = {}
        self.queue: list = []
        self.queued: set[bytes] = set()
        self.counter = 0
        self.blobs: dict[bytes, bytes] = {}

    def origin(self, commit: bytes, path: bytes, mode: int, blob: bytes) -> _Origin:
        key = (commit, path)
        found = self.origins.get(key)
        if found is None:
            found = self.origins[key] = _Origin(commit, path, mode, blob)
            self.by_commit.setdefault(commit, []).append(found)
        return found

    def enqueue(self, origin: _Origin, suspects: list[tuple[int, int]]) -> None:
        origin.suspects.extend(suspects)
        if origin.commit not in self.queued:
            self.queued.add(origin.commit)
            self.counter += 1
            when = self.reader.commit_headers(origin.commit)[2]
            heapq.heappush(self.queue, (-when, self.counter, origin.commit))

    def data(self, blob: bytes) -> bytes:
        found = self.blobs.get(blob)
        if found is None:
            found = self.reader.blob(blob.decode())
            if len(self.blobs) > 64:
                self.blobs.pop(next(iter(self.blobs)))
            self.blobs[blob] = found
        return found

    # --- finding the file in a parent (find_origin, find_rename) -----------------------------

    def find_origin(self, parent: bytes, origin: _Origin) -> _Origin | None:
        existing = self.origins.get((parent, origin.path))
        if existing is not None:
            return existing
        found = self.reader.entry_below(self.reader.commit_headers(parent)[0], origin.path)
        if found is None:
            return None
        mode, sha = found
        # A folder there, or a file of another type (a symlink, a submodule): git's diff says
        # added or type-changed, and blame looks no further down this parent.
        if stat.S_IFMT(mode) != stat.S_IFMT(origin.mode) or stat.S_ISDIR(mode):
            return None
        return self.origin(parent, origin.path, mode, sha)

    def find_rename(self, parent: bytes, origin: _Origin) -> _Origin | None:
        reader = self.reader
        parent_tree = reader.commit_headers(parent)[0]
        existing = reader.entry_below(parent_tree, origin.path)
        if existing is not None and not stat.S_ISDIR(existing[0]):
            return None  # there but of another type: not an addition, so not a rename either
        deleted = []
        for change in tree_changes(
            reader.store, parent_tree, reader.commit_headers(origin.commit)[0]
        ):
            old = change.old
            if change.type != "delete" or old.mode == 0o160000 or stat.S_ISDIR(old.mode):
                continue
            # Only files of the same kind: git pairs a symlink only with a symlink.
            if stat.S_ISREG(old.mode) == stat.S_ISREG(origin.mode):
                deleted.append((old.path, old.mode, old.sha))
        if not deleted:
            return None
        deleted.sort()
        name = posixpath.basename(origin.path)
        exact = [d for d in deleted if d[2] == origin.blob]
        if exact:
            same_name = [d for d in exact if posixpath.basename(d[0]) == name]
            path, mode, sha = (same_name or exact)[0]
            return self.origin(parent, path, mode, sha)
        target = reader.store[origin.blob]
        if not isinstance(target, Blob):
            return None
        cache: dict = {}
        same_name = [d for d in deleted if posixpath.basename(d[0]) == name]
        if len(same_name) == 1:
            path, mode, sha = same_name[0]
            if _similarity_score(reader.store[sha], target, cache) >= BASENAME_SCORE:
                return self.origin(parent, path, mode, sha)
        best, best_score = None, RENAME_SCORE - 1
        for path, mode, sha in deleted:
            candidate = reader.store[sha]
            if not isinstance(candidate, Blob):
                continue
            score = _similarity_score(candidate, target, cache)
            if score > best_score:
                best, best_score = (path, mode, sha), score
        if best is None:
            return None
        return self.origin(parent, *best)

    # --- handing lines to parents (pass_blame) ----------------------------------------------

    def pass_blame(self, origin: _Origin) -> None:
        parents = self.reader.commit_headers(origin.commit)[1]
        scapegoats: list[_Origin | None] = [None] * len(parents)
        for find in (self.find_origin, self.find_rename):
            for i, parent in enumerate(parents):
                if scapegoats[i] is not None:
                    continue
                porigin = find(parent, origin)
                if porigin is None:
                    continue
                if porigin.blob == origin.blob:
                    suspects, origin.suspects = origin.suspects, []
                    self.enqueue(porigin, suspects)
                    return
                if not any(s is not None and s.blob == porigin.blob for s in scapegoats[:i]):
                    scapegoats[i] = porigin
        for porigin in scapegoats:
            if porigin is None:
                continue
            matched = match_lines(self.data(porigin.blob), self.data(origin.blob))
            passed, kept = [], []
            for line, final in origin.suspects:
                if matched[line] >= 0:
                    passed.append((matched[line], final))
                else:
                    kept.append((line, final))
            origin.suspects = kept
            if passed:
                self.enqueue(porigin, passed)
            if not kept:
                return


def blame(reader, head: str, path: str) -> list[str]:
    """The commit id `git blame` names for each line of the file at `path` in `head`."""
    walk = _Blame(reader)
    start = head.encode()
    found = reader.entry_below(reader.commit_headers(start)[0], path.encode())
    if found is None:
        return []
    mode, sha = found
    lines = len(split_records(walk.data(sha)))
    final: list[str] = [""] * lines
    walk.enqueue(walk.origin(start, path.encode(), mode, sha), [(i, i) for i in range(lines)])
    while walk.queue:
        _, _, commit = heapq.heappop(walk.queue)
        walk.queued.discard(commit)
        for origin in walk.by_commit.get(commit, []):
            if not origin.suspects:
                continue
            walk.pass_blame(origin)
            # What no parent took was written here.
            for _line, number in origin.suspects:
                final[number] = commit.decode()
            origin.suspects = []
    return final
