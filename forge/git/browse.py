"""Reading a repository for the browser: refs, trees, blobs, commits and diffs.

Every read goes through dulwich's object store; nothing here opens a file inside the
repository by a path that came from a URL. Objects never change once written, so what is
expensive to work out is cached, keyed by the object ids it was computed from: in process
(bounded in bytes) and, for what history walks compute, in the site's page cache on disk.
The walks themselves are in forge.git.history, blame in forge.git.blame, downloads in
forge.git.archives; the reader's methods for them are thin doors. The values it answers with
are in forge.git.values.

History walks read commits with a small parser of their headers instead of full dulwich
objects, and look up paths in raw tree data.
"""

from __future__ import annotations

import atexit
import os
import re
import stat
import threading
from binascii import hexlify, unhexlify
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from dulwich._objects import parse_tree
from dulwich.commit_graph import CommitGraph
from dulwich.diff_tree import RenameDetector, tree_changes
from dulwich.errors import NotGitRepository
from dulwich.graph import _find_lcas  # the merge-base search, given our own lookups
from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo

from forge.cache import LRU
from forge.git import archives, history, page_cache
from forge.git.blame import blame as blame_commits
from forge.git.commit_graph import loaded_graph, parse_headers
from forge.git.history import Missing
from forge.git.refs import ref_values
from forge.git.values import (
    SUBMODULE_MODE,
    BranchInfo,
    Change,
    CommitInfo,
    Entry,
    LastChange,
    Person,
    Revision,
    TagInfo,
)
from forge.git.xdiff import split_records

HEX = re.compile(r"^[0-9a-f]{7,40}$")
COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
MISSING = object()


# In-process caches, each bounded in bytes: the weights below are what CPython spends on an
# entry (its key, the tuples and strings of its value, the dict slot), measured roughly.
MB = 1024 * 1024
# Commit headers (tree, parents, committer time) of walked commits, shared by all walks.
_HEADERS = LRU(64 * MB, weigh=lambda headers: 450 + 80 * len(headers[1]))
# The commit each ref target (a commit or an annotated tag) means.
_PEELED = LRU(4 * MB, weigh=lambda commit: 300)
# What is at a path below a tree, by (repository, tree, path).
_PATHS = LRU(16 * MB, weigh=lambda found: 400)
# Full commits as shown on pages.
_COMMITS = LRU(32 * MB, weigh=lambda info: 1200 + len(info.message))
# Blame results by (head, path): runs of (commit id, how many lines).
_BLAME = LRU(32 * MB, weigh=lambda runs: 120 + 150 * len(runs))


class _RepoPool:
    """Idle opened repositories, so a request need not open one (config, pack indexes) anew.
    Each is used by one reader at a time; the least recently returned are closed first."""

    def __init__(self, size: int):
        self.size = size
        self._idle: OrderedDict[tuple, list[Repo]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def take(self, key: tuple) -> Repo | None:
        with self._lock:
            idle = self._idle.get(key)
            if not idle:
                return None
            self._count -= 1
            repo = idle.pop()
            if not idle:
                del self._idle[key]
            return repo

    def give(self, key: tuple, repo: Repo) -> None:
        closing = []
        with self._lock:
            self._idle.setdefault(key, []).append(repo)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.size:
                oldest = next(iter(self._idle))
                closing.append(self._idle[oldest].pop(0))
                self._count -= 1
                if not self._idle[oldest]:
                    del self._idle[oldest]
        for old in closing:
            old.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle, self._count = self._idle, OrderedDict(), 0
        for repos in idle.values():
            for repo in repos:
                repo.close()


_POOL = _RepoPool(32)
# A process that exits (a web worker on Ctrl-C or SIGTERM) closes the repositories it kept:
# left to the interpreter's teardown, each pack's __del__ prints a traceback.
atexit.register(_POOL.close_all)


# --- the reader -------------------------------------------------------------------------------


class RepoReader:
    """One repository opened for reading. Use as a context manager; close() releases files."""

    def __init__(self, path: Path):
        try:
            info = os.stat(path)
            packs = os.stat(path / "objects" / "pack").st_mtime_ns
        except OSError:
            raise Missing("the repository is not on disk") from None
        # The inode tells a repository apart from one deleted and made again at the same path.
        self.key = f"{path}:{info.st_ino}"
        self.path = path
        # Opened repositories are reused while their set of packs stays the same.
        self._pool_key = (self.key, packs)
        self.repo = _POOL.take(self._pool_key)
        if self.repo is None:
            try:
                self.repo = Repo(str(path))
            except (NotGitRepository, OSError):
                raise Missing("the repository is not on disk") from None
        self.store = self.repo.object_store
        self._graph: CommitGraph | None | object = MISSING
        self._ref_maps: dict[bytes, dict[str, bytes]] = {}

    def close(self) -> None:
        if self.repo is not None:
            _POOL.give(self._pool_key, self.repo)
            self.repo = None

    def __enter__(self) -> RepoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- refs ---------------------------------------------------------------------------------

    def _refs(self, prefix: bytes) -> dict[str, bytes]:
        found = self._ref_maps.get(prefix)
        if found is None:
            found = self._ref_maps[prefix] = {
                name.decode("utf-8", "replace"): sha
                for name, sha in ref_values(self.repo, prefix).items()
            }
        return found

    def branch_names(self) -> list[str]:
        return sorted(self._refs(b"refs/heads"))

    def tag_names(self) -> list[str]:
        return sorted(self._refs(b"refs/tags"))

    def default_branch(self, preferred: str) -> str | None:
        """The branch HEAD names if it exists, else `preferred`, else any branch."""
        heads = self._refs(b"refs/heads")
        try:
            head = self.repo.refs.read_ref(b"HEAD") or b""
        except (KeyError, OSError):
            head = b""
        target = head.decode("utf-8", "replace").removeprefix("ref: ").removeprefix("refs/heads/")
        for name in (target, preferred):
            if name in heads:
                return name
        return min(heads) if heads else None

    def resolve(self, parts: list[str]) -> tuple[Revision, list[str]]:
        """Split URL parts into a revision and a path: the longest prefix naming a branch or a
        tag wins (so `feature/x` works), then a commit id as the first part."""
        heads, tags = self._refs(b"refs/heads"), self._refs(b"refs/tags")
        for end in range(len(parts), 0, -1):
            name = "/".join(parts[:end])
            for kind, refs in (("branch", heads), ("tag", tags)):
                sha = refs.get(name)
                if sha is not None:
                    return Revision(name, kind, self._peel(sha)), parts[end:]
        if parts and HEX.match(parts[0]):
            return Revision(parts[0], "commit", self._expand(parts[0])), parts[1:]
        raise Missing("no such branch, tag or commit")

    def revision(self, name: str) -> Revision:
        """A whole string naming a branch, a tag or a commit id."""
        revision, rest = self.resolve(name.split("/"))
        if rest:
            raise Missing(f"no branch, tag or commit named {name!r}")
        return revision

    def _expand(self, prefix: str) -> str:
        if len(prefix) == 40:
            if prefix.encode() not in self.store:
                raise Missing("no such commit")
            return self._peel(prefix.encode())
        found = []
        for sha in self.store.iter_prefix(prefix.encode()):
            found.append(sha)
            if len(found) > 1:
                raise Missing(f"the commit id {prefix} is ambiguous")
        if not found:
            raise Missing("no such commit")
        return self._peel(found[0])

    def _peel(self, sha: bytes) -> str:
        """The commit a ref points at, following annotated tags; Missing for anything else."""
        key = (self.key, sha)
        found = _PEELED.get(key)
        if found is None:
            found = _PEELED.put(key, self._peel_object(sha))
        return found

    def _peel_object(self, sha: bytes) -> str:
        for _ in range(20):
            try:
                obj = self.store[sha]
            except KeyError:
                raise Missing("the ref points at a missing object") from None
            if isinstance(obj, Commit):
                return obj.id.decode()
            if not isinstance(obj, Tag):
                raise Missing("the ref does not point at a commit")
            sha = obj.object[1]
        raise Missing("too many nested tags")

    def branches(self) -> list[BranchInfo]:
        return [
            BranchInfo(name, self.commit(self._peel(sha)))
            for name, sha in sorted(self._refs(b"refs/heads").items())
        ]

    def tags(self) -> list[TagInfo]:
        found = []
        for name, sha in self._refs(b"refs/tags").items():
            try:
                obj = self.store[sha]
                message = ""
                if isinstance(obj, Tag):
                    message = obj.message.decode("utf-8", "replace").strip()
                found.append(TagInfo(name, self.commit(self._peel(sha)), message))
            except (Missing, KeyError):
                continue  # a tag of a tree or a blob has nothing to browse
        return sorted(found, key=lambda t: (-t.commit.committer.time, t.name))

    # --- objects ------------------------------------------------------------------------------

    def commit(self, sha: str) -> CommitInfo:
        key = (self.key, sha)
        found = _COMMITS.get(key)
        if found is None:
            try:
                obj = self.store[sha.encode()]
            except KeyError:
                raise Missing("no such commit") from None
            if not isinstance(obj, Commit):
                raise Missing("not a commit")
            found = _COMMITS.put(key, _commit_info(obj))
        return found

    def entry(self, commit: str, path: str) -> Entry:
        """The tree entry at `path` in a commit ('' is the root folder)."""
        info = self.commit(commit)
        if not path:
            return Entry("", "", stat.S_IFDIR, info.tree)
        mode, sha = stat.S_IFDIR, info.tree.encode()
        for name in path.split("/"):
            if not stat.S_ISDIR(mode) or mode == SUBMODULE_MODE:
                raise Missing(f"{path} is not in this revision")
            found = _find_entry(self._raw(sha, TREE), name.encode())
            if found is None:
                raise Missing(f"{path} is not in this revision")
            mode, sha = found
        return Entry(path.rsplit("/", 1)[-1], path, mode, sha.decode())

    def list_tree(self, tree: str, path: str) -> list[Entry]:
        """A folder's entries, folders first, each in name order as GitHub shows them."""
        prefix = path + "/" if path else ""
        entries = [
            Entry(
                name.decode("utf-8", "replace"),
                prefix + name.decode("utf-8", "replace"),
                mode,
                sha.decode(),
            )
            for name, mode, sha in self._tree(tree.encode())
        ]
        return sorted(entries, key=lambda e: (e.kind != "tree", e.name.lower(), e.name))

    def blob(self, sha: str) -> bytes:
        obj = self._object(sha.encode())
        if not isinstance(obj, Blob):
            raise Missing("not a file")
        return obj.as_raw_string()

    def blob_chunks(self, sha: str) -> tuple[int, list[bytes]]:
        obj = self._object(sha.encode())
        if not isinstance(obj, Blob):
            raise Missing("not a file")
        chunks = obj.chunked
        return sum(len(c) for c in chunks), chunks

    def tree_object(self, sha: str):
        obj = self._object(sha.encode())
        if not isinstance(obj, Tree):
            raise Missing("not a folder")
        return obj

    def _object(self, sha: bytes):
        try:
            return self.store[sha]
        except KeyError:
            raise Missing("no such object") from None

    def _raw(self, sha: bytes, kind: int) -> bytes:
        try:
            type_num, data = self.store.get_raw(sha)
        except KeyError:
            raise Missing("no such object") from None
        if type_num != kind:
            raise Missing("unexpected object type")
        return data

    def _tree(self, sha: bytes) -> list[tuple[bytes, int, bytes]]:
        return parse_tree(self._raw(sha, TREE), 20)  # (name, mode, hex id)

    def _headers(self, sha: bytes) -> tuple[bytes, tuple[bytes, ...], int]:
        key = (self.key, sha)
        found = _HEADERS.get(key)
        if found is None:
            # git's commit-graph has them in a row of 36 bytes; a commit pushed since the
            # graph was written is read (inflated) from its pack.
            graph = self._commit_graph()
            entry = graph.get_entry_by_oid(sha) if graph is not None else None
            if entry is not None:
                found = (entry.tree_id, tuple(entry.parents), entry.commit_time)
            else:
                found = parse_headers(self._raw(sha, COMMIT))
            _HEADERS.put(key, found)
        return found

    def _commit_graph(self) -> CommitGraph | None:
        """The repository's commit-graph, shared by every reader (`loaded_graph`)."""
        if self._graph is MISSING:
            self._graph = loaded_graph(self.path)
        return self._graph

    def tree_items(self, sha: bytes) -> list[tuple[bytes, int, bytes]]:
        """(name, mode, hex id) of each entry of a tree, from its raw data."""
        return self._tree(sha)

    def path_id(self, tree: bytes, names: tuple[bytes, ...]) -> bytes | None:
        return self._path_id(tree, names)

    def commit_headers(self, sha: bytes) -> tuple[bytes, tuple[bytes, ...], int]:
        """(tree, parents, committer time) of a commit, from its header lines only."""
        return self._headers(sha)

    def entry_below(self, tree: bytes, path: bytes) -> tuple[int, bytes] | None:
        """(mode, hex id) of what is at `path` below a tree, or None."""
        names = tuple(path.split(b"/"))
        found = _find_entry(self._raw(tree, TREE), names[0])
        if found is None or len(names) == 1:
            return found
        if not stat.S_ISDIR(found[0]) or found[0] == SUBMODULE_MODE:
            return None
        # Sub-folders change far less often than the root: remember lookups below them.
        key = (self.key, found[1], names[1:], "entry")
        entry = _PATHS.get(key, MISSING)
        if entry is MISSING:
            entry = _PATHS.put(key, self.entry_below(found[1], b"/".join(names[1:])))
        return entry

    def _path_id(self, tree: bytes, names: tuple[bytes, ...]) -> bytes | None:
        """The id of what is at `names` below a tree, or None; reads raw trees only."""
        found = _find_entry(self._raw(tree, TREE), names[0])
        if found is None or len(names) == 1:
            return found and found[1]
        if not stat.S_ISDIR(found[0]):
            return None
        # Sub-folders change far less often than the root: remember lookups below them.
        key = (self.key, found[1], names[1:])
        sha = _PATHS.get(key, MISSING)
        if sha is MISSING:
            sha = _PATHS.put(key, self._path_id(found[1], names[1:]))
        return sha

    # --- history (forge.git.history) -----------------------------------------------------------

    def log(
        self, head: str, path: str, offset: int, limit: int, exact: bool = False
    ) -> tuple[list[str], bool]:
        """Commit ids from `head` that changed `path`, as `git log` lists them: see history.log."""
        return history.log(self, head, path, offset, limit, exact)

    def last_commits(self, head: str, path: str, tree: str) -> dict[str, str]:
        """The newest commit that changed each entry of a folder: see history.last_commits."""
        return history.last_commits(self, head, path, tree)

    def last_changes(self, head: str, path: str, tree: str) -> dict[str, LastChange]:
        """What a folder listing shows of each entry's last commit: see history.last_changes."""
        return history.last_changes(self, head, path, tree)

    def commits_between(self, base: str, head: str, limit: int) -> list[CommitInfo]:
        """Commits reachable from `head` but not from `base`, newest first (at most `limit`)."""

        def walk() -> list[str]:
            return history.commits_between(self._headers, base.encode(), head.encode(), limit)

        ids = history.remembered(f"between:{base}:{head}:{limit}", walk)
        return [self.commit(sha) for sha in ids]

    def merge_base(self, base: str, head: str) -> str | None:
        def find() -> str | None:
            if base == head:
                return base
            bases = _find_lcas(
                lambda sha: list(self._headers(sha)[1]),
                base.encode(),
                [head.encode()],
                lambda sha: self._headers(sha)[2],
            )
            return bases[0].decode() if bases else None

        return history.remembered(f"base:{base}:{head}", find)

    # --- diffs --------------------------------------------------------------------------------

    def changes(self, old_tree: str | None, new_tree: str) -> list[Change]:
        """Files changed from one tree to another, with renames found as git finds them."""
        detector = RenameDetector(self.store, max_files=100) if old_tree else None
        result = []
        for change in tree_changes(
            self.store,
            old_tree.encode() if old_tree else None,
            new_tree.encode(),
            rename_detector=detector,
        ):
            old, new = change.old, change.new
            status = {"add": "added", "delete": "deleted", "modify": "modified"}.get(
                change.type, {"rename": "renamed", "copy": "copied"}.get(change.type, change.type)
            )
            result.append(
                Change(
                    status,
                    _text(old.path) if old and old.path else None,
                    _text(new.path) if new and new.path else None,
                    old.sha.decode() if old and old.sha else None,
                    new.sha.decode() if new and new.sha else None,
                    old.mode if old else None,
                    new.mode if new else None,
                )
            )
        return sorted(result, key=lambda c: c.path)

    # --- blame --------------------------------------------------------------------------------

    def blame(self, head: str, path: str) -> list[tuple[str, bytes]]:
        """(commit id, line) for each line of the file at `path` in `head`: the commit
        `git blame` names for the line (forge.git.blame). Kept in process and on disk."""
        runs = _BLAME.get_or_compute((head, path), lambda: self._blame_runs(head, path))
        lines = split_records(self.blob(self.entry(head, path).sha))
        commits = [sha for sha, count in runs for _ in range(count)]
        return list(zip(commits, lines, strict=True))

    def _blame_runs(self, head: str, path: str) -> list[tuple[str, int]]:
        cache = page_cache.current()
        key = f"blame:{head}:{path}"
        stored = cache.get(key) if cache else None
        if stored is not None:
            return [
                (hexlify(stored[i : i + 20]).decode(), int.from_bytes(stored[i + 20 : i + 24]))
                for i in range(0, len(stored), 24)
            ]
        runs: list[tuple[str, int]] = []
        for sha in blame_commits(self, head, path):
            if runs and runs[-1][0] == sha:
                runs[-1] = (sha, runs[-1][1] + 1)
            else:
                runs.append((sha, 1))
        if cache is not None:
            cache.put(key, b"".join(unhexlify(sha) + count.to_bytes(4) for sha, count in runs))
        return runs

    # --- archives (forge.git.archives) ---------------------------------------------------------

    def tar_gz(self, tree: str, prefix: str, mtime: int) -> Iterator[bytes]:
        return archives.tar_gz(self, tree, prefix, mtime)

    def zip(self, tree: str, prefix: str, mtime: int) -> Iterator[bytes]:
        return archives.zip_stream(self, tree, prefix, mtime)


# --- helpers ----------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _find_entry(raw: bytes, name: bytes) -> tuple[int, bytes] | None:
    """(mode, hex id) of `name` in raw tree data, without parsing the whole tree.

    An entry is `<mode> <name>\\0<20-byte id>`; a match counts only where a mode starts right
    after the previous entry's id (or at the start). When the name occurs more than once
    (another entry's name ends with ' name') the tree is parsed in full instead.
    """
    needle = b" " + name + b"\x00"
    at = raw.find(needle)
    if at < 0:
        return None
    if raw.find(needle, at + 1) < 0:
        for width in (6, 5):
            start = at - width
            if start >= 0 and raw[start:at].isdigit() and (start == 0 or raw[start - 21] == 0):
                end = at + len(needle)
                return int(raw[start:at], 8), hexlify(raw[end : end + 20])
    for entry_name, mode, sha in parse_tree(raw, 20):
        if entry_name == name:
            return mode, sha
    return None


def _person(raw: bytes, when: int | None, offset: int | None) -> Person:
    text = raw.decode("utf-8", "replace")
    name, _, email = text.partition("<")
    return Person(name.strip(), email.rstrip(">").strip(), when or 0, offset or 0)


def _commit_info(obj: Commit) -> CommitInfo:
    encoding = (obj.encoding or b"utf-8").decode("ascii", "replace")
    try:
        message = obj.message.decode(encoding, "replace")
    except LookupError:
        message = obj.message.decode("utf-8", "replace")
    return CommitInfo(
        sha=obj.id.decode(),
        tree=obj.tree.decode(),
        parents=tuple(p.decode() for p in obj.parents),
        author=_person(obj.author, obj.author_time, obj.author_timezone),
        committer=_person(obj.committer, obj.commit_time, obj.commit_timezone),
        message=message,
    )
