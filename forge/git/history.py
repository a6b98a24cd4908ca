"""Walks of history for the browser: the commits that changed a path, the last commit of
each entry of a folder, and the commits one revision has that another has not.

The path walks go newest first from a head with git's default history simplification (at a
merge, follow one parent whose content at the path is the same, if any). The results of all
three depend on object ids only (a head names its whole history), so besides the in-process
caches, bounded in bytes, they are kept in the site's page cache on disk
(forge.git.page_cache): after a restart, or in another worker, a page someone has seen is read
back instead of walked again.
"""

from __future__ import annotations

import heapq
import json
import threading
from binascii import hexlify, unhexlify
from dataclasses import dataclass, field

from forge.cache import LRU
from forge.git import page_cache
from forge.git.values import LastChange

MISSING = object()


class Missing(Exception):
    """A ref, path or object the repository does not have."""


@dataclass
class _Walk:
    """A walk of history, extended on demand, its result kept in `ids`. A walk read back from
    the page cache has no heap: it cannot be extended, and one that has to be is walked anew."""

    heap: list | None
    seen: set
    ids: bytearray = field(default_factory=bytearray)  # 20-byte commit ids, newest first
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    path_ids: dict = field(default_factory=dict)  # commit -> id at the path (path walks)
    counter: int = 0
    stored: int = 0  # how many ids the page cache holds

    @property
    def count(self) -> int:
        return len(self.ids) // 20


# Walks by (repository, head, path), weighing the bytes they hold: ids, and the set of seen
# commits and pending heap of an unfinished one (about 100 bytes an entry in CPython).
_WALKS = LRU(
    48 * 1024 * 1024,
    weigh=lambda walk: 200 + len(walk.ids) + 100 * (len(walk.seen) + len(walk.path_ids)),
)
# Answers by their key (see `remembered`): the last commit of each entry of a folder, the
# commits between two others, a merge base. An entry of a dict or list weighs about its
# strings plus CPython's overhead for them and a slot.
_ANSWERS = LRU(32 * 1024 * 1024, weigh=lambda value: _weigh_answer(value))
# The newest answer of last_commits for each folder of a repository: the next head starts there.
_LAST_SEEN = LRU(16 * 1024 * 1024, weigh=lambda seen: 200 + _weigh_names(seen[2]))


def _weigh_names(found: dict[str, str]) -> int:
    return 240 + sum(len(name) + 200 for name in found)


def _weigh_answer(value) -> int:
    if isinstance(value, dict):
        return _weigh_names(value)
    if isinstance(value, list):
        return 120 + 110 * len(value)
    return 200


def _names(path: str) -> tuple[bytes, ...]:
    return tuple(p.encode() for p in path.split("/")) if path else ()


# --- the commits that changed a path ---------------------------------------------------------


def log(
    reader, head: str, path: str, offset: int, limit: int, exact: bool = False
) -> tuple[list[str], bool]:
    """Commit ids from `head` in `git log` order (only those that changed `path`, with git's
    default history simplification), `limit` of them from `offset`, and whether more follow.

    The walk is kept per (repository, head, path) and extended only as far as a page needs, so
    page 200 costs a slice once page 199 has been seen, and a cold page 200 one walk of its
    10,000 commits.
    """
    key = (reader.key, head, path)
    walk = _WALKS.get_or_compute(key, lambda: _stored_walk(head, path) or _new_walk(reader, head))
    wanted = offset + limit + (0 if exact else 1)  # one more tells whether more follow
    with walk.lock:
        if walk.count < wanted and not walk.done:
            if walk.heap is None:
                fresh = _new_walk(reader, head)
                walk.heap, walk.seen, walk.ids, walk.stored = fresh.heap, fresh.seen, fresh.ids, 0
            _extend(reader, walk, _names(path), wanted)
            _WALKS.put(key, walk)  # weigh it again
            _store_walk(walk, head, path)
        ids = bytes(walk.ids[offset * 20 : (offset + limit) * 20])
        more = walk.count > offset + limit
    return [hexlify(ids[i : i + 20]).decode() for i in range(0, len(ids), 20)], more


def _new_walk(reader, head: str) -> _Walk:
    sha = head.encode()
    return _Walk(heap=[(-reader.commit_headers(sha)[2], 0, sha)], seen={sha})


def _walk_key(head: str, path: str) -> str:
    return f"log:{head}:{path}"


def _stored_walk(head: str, path: str) -> _Walk | None:
    cache = page_cache.current()
    data = cache.get(_walk_key(head, path)) if cache else None
    if not data:
        return None
    done, ids = data[:1] == b"1", bytearray(data[1:])
    return _Walk(heap=None, seen=set(), ids=ids, done=done, stored=len(ids) // 20)


def _store_walk(walk: _Walk, head: str, path: str) -> None:
    """Keep what a walk found: the first time, then once it has grown by half or finished, so
    a walk to page 200 is written a handful of times, not once a page."""
    cache = page_cache.current()
    if cache is None or walk.count == walk.stored and not walk.done:
        return
    if walk.stored and not walk.done and walk.count < walk.stored * 3 // 2:
        return
    cache.put(_walk_key(head, path), (b"1" if walk.done else b"0") + bytes(walk.ids))
    walk.stored = walk.count


def _extend(reader, walk: _Walk, names: tuple[bytes, ...], wanted: int) -> None:
    heap, seen = walk.heap, walk.seen
    headers = reader.commit_headers
    while heap and walk.count < wanted:
        _, _, sha = heapq.heappop(heap)
        tree, parents, _ = headers(sha)
        follow = parents
        if names:
            mine = _walk_path_id(reader, walk, sha, tree, names)
            same = [p for p in parents if _walk_path_id(reader, walk, p, None, names) == mine]
            if same:
                follow = same[:1]  # TREESAME to a parent: the change, if any, is down there
            elif mine is not None or parents:
                walk.ids += unhexlify(sha)
            walk.path_ids.pop(sha, None)
        else:
            walk.ids += unhexlify(sha)
        for parent in follow:
            if parent not in seen:
                seen.add(parent)
                walk.counter += 1
                heapq.heappush(heap, (-headers(parent)[2], walk.counter, parent))
    if not heap:
        walk.done = True
        walk.seen = set()
        walk.path_ids = {}


def _walk_path_id(reader, walk: _Walk, sha: bytes, tree: bytes | None, names) -> bytes | None:
    found = walk.path_ids.get(sha, MISSING)
    if found is MISSING:
        if tree is None:
            tree = reader.commit_headers(sha)[0]
        found = walk.path_ids[sha] = reader.path_id(tree, names)
    return found


# --- the last commit of each entry of a folder -----------------------------------------------


def last_commits(reader, head: str, path: str, tree: str) -> dict[str, str]:
    """For each entry of the folder `path` (whose tree at `head` is `tree`): the id of the
    newest commit that changed it. One walk of history that stops once every entry has its
    commit, kept in process and on disk by (head, path)."""
    return remembered(f"last:{head}:{path}", lambda: _last_commits(reader, head, path, tree))


def last_changes(reader, head: str, path: str, tree: str) -> dict[str, LastChange]:
    """What a listing of the folder shows of each entry's last commit (`last_commits`), kept
    on disk as well: after a restart git.git's home read its 400 commits again (60 ms)."""

    def compute() -> dict[str, list]:
        ids = last_commits(reader, head, path, tree)
        return {name: LastChange.of(reader.commit(sha)).to_json() for name, sha in ids.items()}

    listed = remembered(f"listed:{head}:{path}", compute)
    return {name: LastChange.from_json(value) for name, value in listed.items()}


def remembered(key: str, compute):
    """An answer (plain JSON values) that depends only on the object ids in `key`: from this
    process, else from the page cache, else computed and kept in both."""

    def load():
        cache = page_cache.current()
        stored = cache.get(key) if cache else None
        if stored is not None:
            return json.loads(stored)
        value = compute()
        if cache is not None:
            cache.put(key, json.dumps(value, separators=(",", ":")).encode())
        return value

    return _ANSWERS.get_or_compute(key, load)


def _last_commits(reader, head: str, path: str, tree: str) -> dict[str, str]:
    names = _names(path)
    headers = reader.commit_headers
    wanted = {name: sha for name, _mode, sha in reader.tree_items(tree.encode())}
    found: dict[str, str] = {}
    entries_of: dict[bytes | None, dict[bytes, bytes]] = {}

    def entries(folder: bytes | None) -> dict[bytes, bytes]:
        if folder is None:
            return {}
        cached = entries_of.get(folder)
        if cached is None:
            cached = entries_of[folder] = {n: s for n, _m, s in reader.tree_items(folder)}
            if len(entries_of) > 256:
                entries_of.pop(next(iter(entries_of)))
        return cached

    folder_of: dict[bytes, bytes | None] = {}

    def folder_id(sha: bytes) -> bytes | None:
        if sha not in folder_of:
            folder_of[sha] = reader.path_id(headers(sha)[0], names) if names else headers(sha)[0]
        return folder_of[sha]

    previous = _previous_answer(reader, path)
    start = head.encode()
    heap, seen, counter = [(-headers(start)[2], 0, start)], {start}, 0
    while heap and wanted:
        _, _, sha = heapq.heappop(heap)
        if previous is not None and not heap and sha == previous[0]:
            # Every line of history from the head meets at the head of the last answer for
            # this folder: entries unchanged since then keep the commits found then.
            _reuse(reader, previous, wanted, found)
            if not wanted:
                break
        parents = headers(sha)[1]
        mine = folder_id(sha)
        same = [p for p in parents if folder_id(p) == mine]
        follow = same[:1] if same else parents
        if not same and mine is not None:
            here = entries(mine)
            before = [entries(folder_id(p)) for p in parents]
            for name in list(wanted):
                if name in here and all(b.get(name) != here[name] for b in before):
                    found[name.decode("utf-8", "replace")] = sha.decode()
                    del wanted[name]
        folder_of.pop(sha, None)
        for parent in follow:
            if parent not in seen:
                seen.add(parent)
                counter += 1
                heapq.heappush(heap, (-headers(parent)[2], counter, parent))
    _remember_answer(reader, path, (start, tree, found))
    return found


def _previous_answer(reader, path: str) -> tuple | None:
    """The last answer for this folder of this repository, from this process or the page cache:
    (head, tree, found). Only a starting point; every entry taken from it is checked."""
    found = _LAST_SEEN.get((reader.key, path))
    if found is None:
        cache = page_cache.current()
        stored = cache.get(f"seen:{reader.key}:{path}") if cache else None
        if stored is not None:
            head, tree, answer = json.loads(stored)
            found = (head.encode(), tree, answer)
    return found


def _remember_answer(reader, path: str, answer: tuple) -> None:
    _LAST_SEEN.put((reader.key, path), answer)
    cache = page_cache.current()
    if cache is not None:
        head, tree, found = answer
        value = json.dumps([head.decode(), tree, found], separators=(",", ":"))
        cache.put(f"seen:{reader.key}:{path}", value.encode())


def _reuse(reader, previous: tuple, wanted: dict[bytes, bytes], found: dict[str, str]) -> None:
    _head, tree, answer = previous
    try:
        before = {name: sha for name, _mode, sha in reader.tree_items(tree.encode())}
    except Missing:
        return  # pruned since: the walk goes on without the shortcut
    for name, sha in list(wanted.items()):
        text = name.decode("utf-8", "replace")
        if before.get(name) == sha and text in answer:
            found[text] = answer[text]
            del wanted[name]


def warm_home(repo_path) -> str | None:
    """Work out ahead of the first visitor what a repository's home page takes from history
    (the last commit of each entry of its default branch's root folder), into the page cache.
    Run after pushes: on git.git's 82,000 commits the first answer is a walk of minutes, each
    later one starts from the answer before. Returns the branch's head, or None (no branch)."""
    from forge.git.browse import RepoReader  # forge.git.browse builds on this module

    with RepoReader(repo_path) as reader:
        branch = reader.default_branch("")
        if branch is None:
            return None
        head = reader.revision(branch).commit
        last_changes(reader, head, "", reader.commit(head).tree)
        return head


# Commits a walk of `head ^base` goes on after the last from head's side, as git's `slop`.
_SLOP = 5


def commits_between(headers, base: bytes, head: bytes, limit: int) -> list[str]:
    """`git rev-list -n limit head ^base`, newest committer time first, from the commits'
    `headers` (tree, parents, committer time: the commit-graph's rows); dulwich's Walker
    inflated 50,000 commits of git.git for two releases. As git's, the walk goes by committer
    time and stops once no commit from head's side is left to walk, plus _SLOP more: a commit
    whose time is older than its parent's (a skewed clock) can still hide that the parent is
    reachable from base, and marks found that late are carried down to commits already
    walked."""
    if base == head:
        return []
    excluded: set[bytes] = set()
    walked: set[bytes] = set()

    def exclude(sha: bytes) -> None:
        stack = [sha]
        while stack:
            sha = stack.pop()
            if sha not in excluded:
                excluded.add(sha)
                if sha in walked:
                    stack.extend(headers(sha)[1])

    queued: set[bytes] = {head, base}
    heap = [(-headers(head)[2], head, False), (-headers(base)[2], base, True)]
    found: list[bytes] = []
    waiting, slop = 1, _SLOP  # commits queued from head's side, and pops after the last
    while heap and len(found) < limit + _SLOP:
        if not waiting:
            slop -= 1
            if slop < 0:
                break
        _when, sha, queued_from_base = heapq.heappop(heap)
        waiting -= not queued_from_base
        walked.add(sha)
        from_base = queued_from_base or sha in excluded
        parents = headers(sha)[1]
        if from_base:
            for parent in parents:
                exclude(parent)
        else:
            found.append(sha)
        for parent in parents:
            if parent not in queued:
                queued.add(parent)
                heapq.heappush(heap, (-headers(parent)[2], parent, from_base))
                waiting += not from_base
    return [sha.decode() for sha in found if sha not in excluded][:limit]
