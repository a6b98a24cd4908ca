"""Repository maintenance: keep each repository in few packs, at a cost that follows pushes.

Every push adds a pack. Merging copies each object's bytes (and git's deltas) as they are
(`forge.git.packs.write_merged`), so it costs I/O, not delta search; but folding every push
into the repository's big pack would copy the whole repository per push (dulwich's 21 MB for
a one-line commit). So `maintain`, run after pushes, merges geometrically, as git's
`repack --geometric=2` does: the small packs pushes add are merged with each other once there
are MAX_SMALL_PACKS of them, and into the big pack once together they weigh half of it; each
byte is copied a bounded number of times. Clones are served from several packs merged on the
fly (`forge.git.packs`), so nothing waits for maintenance. `merge_packs` folds everything
into one pack (`forge gc`). Each pack made here gets git's reverse index (.rev) beside it,
which fetches read (`forge.git.revindex`), and the repository gets git's commit-graph of its
refs' history, which the browser's walks read (`forge.git.commit_graph`).

`remove_stale_quarantines` removes what a push whose server process died (kill -9, a web
worker's timeout, a crash) left behind: its quarantine, objects/incoming-*, which nothing
else would ever remove. Only once nothing in it has changed for an hour: a younger one may
belong to a push still under way.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dulwich.objects import ShaFile
from dulwich.pack import write_pack_index_v2
from dulwich.repo import Repo

from forge.git.commit_graph import write_commit_graph
from forge.git.packs import loose_objects, plan_pack, sorted_packs, write_merged
from forge.git.quarantine import QUARANTINE_PREFIX
from forge.git.refs import pack_refs
from forge.git.revindex import ReverseIndex, write_rev

PACK_SUFFIXES = (".pack", ".idx", ".bitmap", ".rev", ".keep", ".promisor")

# A quarantine nothing has written to for this long belongs to no push still under way.
STALE_QUARANTINE_SECONDS = 3600


@dataclass
class MergeResult:
    packs_merged: int
    loose_merged: int
    objects: int
    pack: Path | None


# The big pack takes in the small ones once together they weigh 1/GEOMETRIC_FACTOR of it.
GEOMETRIC_FACTOR = 2
# Small packs (or loose objects) merged with each other once there are this many.
MAX_SMALL_PACKS = 8
MAX_LOOSE = 100
# After a push the commit-graph is rewritten once it lacks more than this many commits:
# rewriting it for every push was most of the CPU the maintenance jobs took under load
# (8 pushers), and a walk reads the few it lacks from their packs.
GRAPH_SLACK = 256


def merge_packs(repo_path: Path) -> MergeResult | None:
    """Fold every pack and loose object of the bare repository into one new pack.

    Returns None without doing anything when another merge of this repository is running.
    """
    result = _locked(Path(repo_path), _merge_all)
    if result is not None:
        write_commit_graph(Path(repo_path))
    return result


def maintain(repo_path: Path) -> MergeResult | None:
    """After pushes: merge what the geometric rule says is due, if anything (see above), fold
    loose refs into packed-refs once there are many (`forge.git.refs.pack_refs`), and bring
    git's commit-graph up to the refs (`forge.git.commit_graph`: history walks read it).

    Returns None without doing anything when another merge of this repository is running.
    """
    result = _locked(Path(repo_path), _merge_due)
    if result is not None:
        with Repo(str(repo_path)) as repo:
            pack_refs(repo)
        write_commit_graph(Path(repo_path), slack=GRAPH_SLACK)
    return result


def _locked(repo_path: Path, merge) -> MergeResult | None:
    with open(repo_path / "forge-maintenance.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        objects_dir = repo_path / "objects"
        return merge(objects_dir, sorted_packs(objects_dir / "pack"), loose_objects(objects_dir))


def _merge_all(objects_dir: Path, packs: list[Path], loose) -> MergeResult:
    if len(packs) <= 1 and not loose:
        if packs:
            _ensure_rev(packs[0])
        return MergeResult(0, 0, 0, packs[0] if packs else None)
    return _merge(objects_dir, packs, loose)


def _merge_due(objects_dir: Path, packs: list[Path], loose) -> MergeResult:
    if not packs:
        return _merge_all(objects_dir, packs, loose)
    sizes = {pack: pack.stat().st_size for pack in packs}
    big = max(packs, key=sizes.__getitem__)
    small = [pack for pack in packs if pack != big]
    if sum(sizes[pack] for pack in small) * GEOMETRIC_FACTOR >= sizes[big]:
        return _merge_all(objects_dir, packs, loose)
    if len(small) >= MAX_SMALL_PACKS or len(loose) >= MAX_LOOSE:
        return _merge(objects_dir, small, loose)
    _ensure_rev(big)
    return MergeResult(0, 0, 0, None)


def _merge(objects_dir: Path, packs: list[Path], loose) -> MergeResult:
    pack_dir = objects_dir / "pack"

    fd, tmp_name = tempfile.mkstemp(dir=pack_dir, prefix="tmp_merge_", suffix=".pack")
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as out:
            plans = [plan_pack(pack) for pack in packs]
            objects = [(sha, ShaFile.from_path(str(path))) for path, sha in loose]
            index_entries, checksum = write_merged(out.write, plans, objects)
            out.flush()
            os.fsync(out.fileno())
        names = sorted(sha for sha, _offset, _crc in index_entries)
        base = pack_dir / ("pack-" + hashlib.sha1(b"".join(names)).hexdigest())
        os.replace(tmp_path, base.with_suffix(".pack"))
        with tempfile.NamedTemporaryFile(dir=pack_dir, prefix="tmp_merge_", delete=False) as idx:
            write_pack_index_v2(idx, sorted(index_entries), checksum)
            idx.flush()
            os.fsync(idx.fileno())
        os.replace(idx.name, base.with_suffix(".idx"))
        write_rev(base.with_suffix(".rev"), [sha for sha, _offset, _crc in index_entries], checksum)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    for pack in packs:
        if pack.with_suffix("") != base:
            for suffix in PACK_SUFFIXES:
                pack.with_suffix(suffix).unlink(missing_ok=True)
    for path, _sha in loose:
        path.unlink(missing_ok=True)
    return MergeResult(len(packs), len(loose), len(index_entries), base.with_suffix(".pack"))


def _ensure_rev(pack: Path) -> None:
    """Give a pack made elsewhere (copied in, or by C git) its reverse index."""
    rev = pack.with_suffix(".rev")
    if not rev.exists():
        reverse = ReverseIndex(pack.with_suffix(".idx"))
        names = [reverse.names[i * 20 : i * 20 + 20] for i in reverse.positions]
        write_rev(rev, names, reverse.pack_checksum)


# --- leftover quarantines ------------------------------------------------------------------


def remove_stale_quarantines(
    repos_dir: Path, older_than: float = STALE_QUARANTINE_SECONDS, now: float | None = None
) -> list[Path]:
    """Remove the quarantines of every repository under `repos_dir` (OWNER/NAME.git) that
    nothing has changed for `older_than` seconds; returns those removed."""
    removed = []
    for repo_path in sorted(Path(repos_dir).glob("*/*.git")):
        removed.extend(remove_repository_quarantines(repo_path, older_than, now))
    return removed


def remove_repository_quarantines(
    repo_path: Path, older_than: float = STALE_QUARANTINE_SECONDS, now: float | None = None
) -> list[Path]:
    """Remove one repository's quarantines that nothing has changed for `older_than` seconds."""
    cutoff = (time.time() if now is None else now) - older_than
    objects_dir = Path(repo_path) / "objects"
    try:
        candidates = [e for e in os.scandir(objects_dir) if e.name.startswith(QUARANTINE_PREFIX)]
    except FileNotFoundError:  # deleted meanwhile
        return []
    removed = []
    for entry in sorted(candidates, key=lambda e: e.name):
        path = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False) or _last_change(path) > cutoff:
            continue
        # Renamed aside first, so a second maintenance run (another worker) does not remove
        # it too; the new name keeps the prefix, so a removal cut short is retried next time.
        doomed = path.with_name(f"{QUARANTINE_PREFIX}removing-{os.getpid()}-{path.name}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            continue  # another run took it first
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(path)
    return removed


def _last_change(folder: Path) -> float:
    """The newest mtime in `folder`, itself included: a push still receiving grows its pack
    file, while the folder's own mtime moves only when an entry is added or removed."""
    newest = folder.lstat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest
