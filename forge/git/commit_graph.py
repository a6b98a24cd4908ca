"""git's commit-graph file (objects/info/commit-graph), written by maintenance.

It holds each commit's tree, parents, committer time and generation number in fixed-size rows,
so a walk of history reads 36 bytes a commit instead of inflating the commit from a pack:
dulwich reads the file (`object_store.get_commit_graph()`), forge's walks ask it first, and
C git (`git log`, `git commit-graph verify`) reads the same file. dulwich has a writer too,
but it computes generation numbers by recursion (git.git's history is 75,000 commits deep)
and keeps every commit object in memory; this one reads commit headers only and computes
generations in a loop. The format is git's Documentation/gitformat-commit-graph.txt, version 1
with the OIDF, OIDL, CDAT and EDGE chunks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
from binascii import unhexlify
from bisect import bisect_left
from pathlib import Path

from dulwich.commit_graph import CommitGraph, read_commit_graph
from dulwich.objects import Commit, Tag
from dulwich.repo import Repo

from forge.cache import LRU

log = logging.getLogger(__name__)

SIGNATURE = b"CGPH"
PARENT_NONE = 0x70000000
EXTRA_EDGES = 0x80000000
LAST_EDGE = 0x80000000
GENERATION_MAX = 0x3FFFFFFF
COMMIT_TYPE = 1

# Parsed graphs by the file's identity, shared by every request of a process: dulwich parses
# the whole file for each opened repository (a quarter of the web workers' CPU under load went
# to parsing it again for each change page's merge-base). 36 bytes a commit on disk, about 400
# in dulwich's objects; git.git's 75,000 commits make 30 MB.
_LOADED = LRU(128 * 1024 * 1024, weigh=lambda graph: 1000 + 400 * len(graph) if graph else 1000)


def graph_path(repo_path: Path) -> Path:
    return Path(repo_path) / "objects" / "info" / "commit-graph"


def loaded_graph(repo_path: Path) -> CommitGraph | None:
    """The repository's commit-graph as dulwich reads it, parsed once per version of the file
    (it is replaced whole, never changed in place); None when there is none or it is damaged."""
    path = graph_path(repo_path)
    try:
        info = os.stat(path)
    except OSError:
        return None
    key = (str(path), info.st_ino, info.st_mtime_ns, info.st_size)
    return _LOADED.get_or_compute(key, lambda: _read(path))


def _read(path: Path) -> CommitGraph | None:
    try:
        return read_commit_graph(str(path))
    except (OSError, ValueError, struct.error) as exc:
        # A damaged graph only costs speed: walks read the commits themselves.
        log.warning("cannot read %s (%s); walking without it", path, exc)
        return None


def write_commit_graph(repo_path: Path, slack: int = 0) -> int | None:
    """Write the graph of every commit reachable from the repository's refs, unless the one
    on disk lacks at most `slack` of them; returns how many commits it holds (None: kept).

    Readers take a commit the graph lacks from its pack, so a few missing cost little, while
    a rewrite costs the whole history: maintenance after each push lets some pile up."""
    with Repo(str(repo_path)) as repo:
        store = repo.object_store
        tips = _ref_commits(repo)
        known = _GraphIds.open(graph_path(repo_path))
        if known is not None and _lacks_at_most(store, tips, known, slack):
            return None
        commits = _reachable(store, tips, store.get_commit_graph() if known else None)
    data = _serialize(commits)
    target = graph_path(repo_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Readers open the file whole at any time: a new one replaces the old in one rename.
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix="tmp_graph_", delete=False) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(out.name, 0o444)
    os.replace(out.name, target)
    return len(commits)


def _ref_commits(repo: Repo) -> list[bytes]:
    tips = set()
    for name, sha in repo.refs.as_dict().items():
        if name == b"HEAD":
            continue
        for _ in range(20):  # tags of tags, as far as git follows them
            try:
                kind, raw = repo.object_store.get_raw(sha)
            except KeyError:
                break
            if kind == COMMIT_TYPE:
                tips.add(sha)
                break
            if kind != Tag.type_num:
                break
            sha = Tag.from_string(raw).object[1]
    return sorted(tips)


class _GraphIds:
    """Which commits a graph file holds, read from its fan-out and id chunks alone: a
    maintenance job (a process of its own) asks only that, and parsing every row took longer
    than the rest of the job."""

    def __init__(self, data: bytes, fanout: tuple[int, ...], ids_at: int):
        self.data, self.fanout, self.ids_at = data, fanout, ids_at

    @classmethod
    def open(cls, path: Path) -> _GraphIds | None:
        try:
            data = path.read_bytes()
            if data[:4] != SIGNATURE:
                return None
            chunks = {}
            for i in range(data[6]):
                chunk_id, offset = struct.unpack_from(">4sQ", data, 8 + 12 * i)
                chunks[chunk_id] = offset
            fanout = struct.unpack_from(">256L", data, chunks[b"OIDF"])
            return cls(data, fanout, chunks[b"OIDL"])
        except (OSError, KeyError, struct.error):
            return None

    def __contains__(self, sha: bytes) -> bool:
        raw = unhexlify(sha)
        low = self.fanout[raw[0] - 1] if raw[0] else 0
        high = self.fanout[raw[0]]
        at = self.ids_at
        ids = _IdRow(self.data, at)
        i = bisect_left(ids, raw, low, high)
        return i < high and self.data[at + 20 * i : at + 20 * i + 20] == raw


class _IdRow:
    """The id chunk as a sequence of 20-byte ids, for bisect."""

    def __init__(self, data: bytes, at: int):
        self.data, self.at = data, at

    def __getitem__(self, i: int) -> bytes:
        start = self.at + 20 * i
        return self.data[start : start + 20]


def _lacks_at_most(store, tips: list[bytes], known: _GraphIds, slack: int) -> bool:
    """Whether at most `slack` commits reachable from `tips` are missing from `known`: walked
    from the tips down to the commits the graph has."""
    missing: set[bytes] = set()
    stack = [tip for tip in tips if tip not in known]
    while stack:
        sha = stack.pop()
        if sha in missing:
            continue
        missing.add(sha)
        if len(missing) > slack:
            return False
        try:
            kind, raw = store.get_raw(sha)
        except KeyError:
            continue
        if kind == Commit.type_num:
            stack.extend(p for p in parse_headers(raw)[1] if p not in missing and p not in known)
    return True


def _reachable(
    store, tips: list[bytes], existing=None
) -> dict[bytes, tuple[bytes, tuple[bytes, ...], int]]:
    """(tree, parents, committer time) of every commit reachable from `tips`: from the
    `existing` graph where it has the commit, else from the commit's headers. Reading the old
    graph rather than every commit again makes a push's rewrite cost what the push added:
    inflating all of git.git's 75,000 commits took a minute per push."""
    found: dict[bytes, tuple[bytes, tuple[bytes, ...], int]] = {}
    stack = list(tips)
    while stack:
        sha = stack.pop()
        if sha in found:
            continue
        entry = existing.get_entry_by_oid(sha) if existing is not None else None
        if entry is not None:
            found[sha] = (entry.tree_id, tuple(entry.parents), entry.commit_time)
            stack.extend(p for p in entry.parents if p not in found)
            continue
        try:
            kind, raw = store.get_raw(sha)
        except KeyError:
            continue  # a shallow or damaged history: the graph holds what there is
        if kind != Commit.type_num:
            continue
        found[sha] = headers = parse_headers(raw)
        stack.extend(p for p in headers[1] if p not in found)
    return found


def parse_headers(raw: bytes) -> tuple[bytes, tuple[bytes, ...], int]:
    """(tree, parents, committer time) from a raw commit, reading its header lines only."""
    end = raw.find(b"\n\n")
    tree, parents, when = b"", [], 0
    for line in (raw if end < 0 else raw[:end]).split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:]
        elif line.startswith(b"parent "):
            parents.append(line[7:])
        elif line.startswith(b"committer "):
            try:
                when = int(line.rsplit(b" ", 2)[1])
            except (IndexError, ValueError):
                when = 0
    return tree, tuple(parents), when


def _generations(commits: dict) -> dict[bytes, int]:
    """Topological level of each commit (1 for roots), without recursion."""
    generation: dict[bytes, int] = {}
    for start in commits:
        if start in generation:
            continue
        stack = [start]
        while stack:
            sha = stack[-1]
            pending = [p for p in commits[sha][1] if p in commits and p not in generation]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if sha not in generation:
                parents = [generation[p] for p in commits[sha][1] if p in commits]
                generation[sha] = min(GENERATION_MAX, 1 + max(parents, default=0))
    return generation


def _serialize(commits: dict[bytes, tuple[bytes, tuple[bytes, ...], int]]) -> bytes:
    ids = sorted(commits)
    position = {sha: i for i, sha in enumerate(ids)}
    generation = _generations(commits)
    fanout = [0] * 256
    for sha in ids:
        fanout[int(sha[:2], 16)] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    rows, edges = [], []
    for sha in ids:
        tree, parents, when = commits[sha]
        # Parents outside the graph (a shallow history) cannot be named by position: git
        # would not write such a graph either, so they are left out like a missing parent.
        known = [position[p] for p in parents if p in position]
        first = known[0] if known else PARENT_NONE
        if len(known) <= 2:
            second = known[1] if len(known) == 2 else PARENT_NONE
        else:
            second = EXTRA_EDGES | len(edges)
            rest = known[1:]
            edges.extend(rest[:-1])
            edges.append(rest[-1] | LAST_EDGE)
        gen_and_time_high = (generation[sha] << 2) | ((when >> 32) & 0x3)
        rows.append(
            unhexlify(tree)
            + struct.pack(">LLLL", first, second, gen_and_time_high, when & 0xFFFFFFFF)
        )
    chunks = [
        (b"OIDF", struct.pack(">256L", *fanout)),
        (b"OIDL", b"".join(unhexlify(sha) for sha in ids)),
        (b"CDAT", b"".join(rows)),
    ]
    if edges:
        chunks.append((b"EDGE", struct.pack(f">{len(edges)}L", *edges)))
    header = SIGNATURE + bytes([1, 1, len(chunks), 0])
    offset = len(header) + 12 * (len(chunks) + 1)
    table = b""
    for chunk_id, body in chunks:
        table += chunk_id + struct.pack(">Q", offset)
        offset += len(body)
    table += b"\0\0\0\0" + struct.pack(">Q", offset)
    data = header + table + b"".join(body for _id, body in chunks)
    return data + hashlib.sha1(data).digest()
