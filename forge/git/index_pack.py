"""Resolving a large pushed pack's deltas on every core, as git's index-pack does with threads.

Once the stream pass (`forge.git.quarantine`) has read a pack to its end, every entry is
known: whole objects, and deltas waiting on a base, named by where it is in the pack or, in a
thin pack, by the id of an object the repository has. Each whole object and each outside
base roots its own tree of deltas, which resolves without the others. The roots are split
into shares holding about as many objects of each type (`split`); this process resolves and
checks one share while a helper process (`python -m forge.git.index_pack`, one per other
core) does each of the others, reading the same pack file. Every share's index records, the
objects it names that are not in it, and its warnings are merged at the end. git.git's first
push resolved in 37 s on two cores instead of 78 s (bench/README.md).

Threads would not help: resolving and checking is Python code that holds the interpreter's
lock. A pack of fewer than `PARALLEL_MIN_OBJECTS` objects takes a few seconds at most and is
resolved here alone: a helper costs a new interpreter. So is a pack whose deltas name a base
by id that the repository lacks (git never sends one; the base would be in another share).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import struct
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dulwich.object_format import SHA1
from dulwich.object_store import DiskObjectStore
from dulwich.pack import PackIndexer, UnpackedObject

from forge.git.integrity import ObjectChecker

PARALLEL_MIN_OBJECTS = 20_000
MAX_PROCESSES = 4


# An index entry as resolving makes it: the object's id, where it starts in the pack, and the
# CRC-32 of its bytes there. 32 bytes, where a tuple of the three took 170.
RECORD = struct.Struct(">20sQI")


class CheckingIndexer(PackIndexer):
    """dulwich's indexer, showing each resolved object to the checker on the way, and
    keeping its index entry in `records`.

    Its record of the stream pass (whole objects `_full_ofs`, deltas by base offset
    `_pending_ofs` and by base id `_pending_ref`) is dulwich's own; `take_share` replaces it
    with one share's part."""

    def __init__(self, file, checker: ObjectChecker, resolve_ext_ref):
        super().__init__(file, SHA1.hash_func, resolve_ext_ref=resolve_ext_ref)
        self.checker = checker
        self.records = bytearray()

    def _result(self, unpacked: UnpackedObject) -> None:
        sha = unpacked.sha()
        self.checker.inspect(sha.hex().encode(), unpacked.obj_type_num, unpacked.obj_chunks)
        self.records += RECORD.pack(sha, unpacked.offset, unpacked.crc32)

    def resolve_all(self) -> tuple[bytearray, list[bytes]]:
        """Resolve and check what was recorded (or taken): index records, outside bases."""
        for _ in self:
            pass
        return self.records, list(self.ext_refs())

    def recorded_objects(self) -> int:
        return (
            len(self._full_ofs)
            + sum(map(len, self._pending_ofs.values()))
            + sum(map(len, self._pending_ref.values()))
        )

    def take_share(self, share: Share) -> None:
        # The share's own dicts, not copies (its parts of git.git's record are 200,000 entries
        # each): after the stream pass dulwich only pops from them, which a plain dict does.
        self._full_ofs = share.whole
        self._pending_ofs = share.by_offset
        self._pending_ref = share.by_id


@dataclass
class Share:
    """The delta trees one process resolves: their roots and every delta in them."""

    whole: list[tuple[int, int]] = field(default_factory=list)  # (offset, type) of roots
    by_id: dict[bytes, list[int]] = field(default_factory=dict)  # outside base -> deltas
    by_offset: dict[int, list[int]] = field(default_factory=dict)  # base offset -> deltas
    objects: int = 0


def resolve(
    indexer: CheckingIndexer,
    pack_path: Path,
    quarantine: DiskObjectStore,
    checker: ObjectChecker,
    say=lambda message: None,
) -> tuple[bytearray, list[bytes]]:
    """Resolve and check every object the stream pass recorded; the index records (see
    `RECORD`) and the outside bases used. Raises what resolving or checking raised."""
    count = indexer.recorded_objects()
    processes = min(len(os.sched_getaffinity(0)), MAX_PROCESSES)
    shares = None
    if count >= PARALLEL_MIN_OBJECTS and processes > 1 and _bases_outside(indexer, quarantine):
        shares = split(indexer, processes)
        if sum(share.objects for share in shares) != count:
            # Deltas on no entry of the pack (a broken or hostile one): dulwich's walk
            # refuses them, where the shares would leave them out.
            shares = None
    if shares is None:
        if count >= PARALLEL_MIN_OBJECTS:
            say(f"Resolving deltas of {count} objects.")
        records, outside = indexer.resolve_all()
    else:
        say(f"Resolving deltas of {count} objects in {processes} processes.")
        own, *others = shares
        del shares
        helpers = [_Helper.start(share, pack_path, quarantine, checker) for share in others]
        del others  # sent: their part of the pack's record is the helpers' to keep now
        try:
            indexer.take_share(own)
            del own
            records, outside = indexer.resolve_all()
            for helper in helpers:
                their_records, their_outside, their_checker = helper.result()
                records += their_records
                outside += their_outside
                checker.absorb(their_checker)
        finally:
            for helper in helpers:
                helper.stop()
    checker.received(hex_ids(records))
    return records, outside


def hex_ids(records) -> Iterator[bytes]:
    """The hex object ids of index records, one at a time."""
    view = memoryview(records)
    for start in range(0, len(view), RECORD.size):
        yield view[start : start + 20].hex().encode()


def write_index(file: BinaryIO, records, pack_checksum: bytes) -> str:
    """Write a version 2 pack index of the records (see `RECORD`), as git's index-pack
    writes it; returns the pack's name (the SHA-1 of its object ids in order)."""
    view = memoryview(records)
    rows = sorted(
        bytes(view[start : start + RECORD.size]) for start in range(0, len(view), RECORD.size)
    )
    digest = hashlib.sha1()

    def out(data) -> None:
        file.write(data)
        digest.update(data)

    counts = [0] * 256
    for row in rows:
        counts[row[0]] += 1
    out(b"\377tOc" + struct.pack(">L", 2))
    out(struct.pack(">256L", *itertools.accumulate(counts)))
    ids = b"".join(row[:20] for row in rows)
    out(ids)
    out(b"".join(row[28:] for row in rows))
    offsets, large = bytearray(), []
    for row in rows:
        offset = int.from_bytes(row[20:28], "big")
        if offset < 1 << 31:
            offsets += offset.to_bytes(4, "big")
        else:  # past 2 GiB: an entry in the table of 8-byte offsets that follows
            offsets += ((1 << 31) | len(large)).to_bytes(4, "big")
            large.append(offset)
    out(offsets)
    out(b"".join(offset.to_bytes(8, "big") for offset in large))
    out(pack_checksum)
    file.write(digest.digest())
    return hashlib.sha1(ids).hexdigest()


def _bases_outside(indexer: CheckingIndexer, quarantine: DiskObjectStore) -> bool:
    """Does the repository have every base the pack's deltas name by id?"""
    for sha in indexer._pending_ref:
        try:
            quarantine.get_raw(sha)
        except KeyError:
            return False
    return True


def split(indexer: CheckingIndexer, parts: int) -> list[Share]:
    """The pack's delta trees in `parts` shares of about as many objects of each type each
    (a tree costs several times what a blob does to check): largest tree first, each to the
    share with the fewest objects of its type so far."""
    by_offset = indexer._pending_ofs
    # (type, objects, its part of by_offset, the whole root or None, the outside base or None);
    # deltas on an outside base are of a type not known yet, 0.
    roots: list[tuple[int, int, dict[int, list[int]], tuple[int, int] | None, bytes | None]] = []
    for whole in indexer._full_ofs:
        size, part = _delta_tree(by_offset, [whole[0]])
        roots.append((whole[1], size, part, whole, None))
    for base, deltas in indexer._pending_ref.items():
        size, part = _delta_tree(by_offset, deltas)
        roots.append((0, size, part, None, base))
    shares = [Share() for _ in range(parts)]
    loads = defaultdict(lambda: [0] * parts)  # type -> objects of that type in each share
    for kind, size, part, whole, base in sorted(roots, key=lambda root: (root[0], -root[1])):
        load = loads[kind]
        number = load.index(min(load))
        load[number] += size
        share = shares[number]
        share.objects += size
        share.by_offset.update(part)
        if whole is not None:
            share.whole.append(whole)
        else:
            share.by_id[base] = indexer._pending_ref[base]
    # Whole objects in pack order, as dulwich resolves them: reading the file forwards.
    for share in shares:
        share.whole.sort()
    return shares


def _delta_tree(by_offset: dict[int, list[int]], starts: list[int]):
    """How many objects the deltas on `starts` (and theirs, on down) make with them, and
    their part of `by_offset`."""
    part = {}
    todo = list(starts)
    size = 0
    while todo:
        offset = todo.pop()
        size += 1
        deltas = by_offset.get(offset)
        if deltas:
            part[offset] = deltas
            todo.extend(deltas)
    return size, part


class _Helper:
    """One share resolved in a new interpreter: the request and its answer are pickled
    through the helper's standard input and output (both ends are this program's own)."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    @classmethod
    def start(
        cls, share: Share, pack_path: Path, quarantine: DiskObjectStore, checker: ObjectChecker
    ) -> _Helper:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
            [sys.executable, "-m", "forge.git.index_pack"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        request = (share, pack_path, quarantine.path, checker.max_object_bytes, checker.policy)
        try:
            pickle.dump(request, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.close()
        except BrokenPipeError:
            pass  # it died starting: its answer (none) says so
        return cls(process)

    def result(self):
        """The share's index records, outside bases and checker; raises what the helper
        raised."""
        try:
            outcome, value = pickle.load(self.process.stdout)
        except (EOFError, pickle.UnpicklingError):
            self.process.wait()
            raise RuntimeError(
                f"a delta-resolving process ended with code {self.process.returncode}"
            ) from None
        if outcome == "error":
            raise value
        return value

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()


def _resolve_share(
    share: Share, pack_path: Path, quarantine: str, max_object_bytes: int, policy
) -> tuple[bytes, list[bytes], ObjectChecker]:
    checker = ObjectChecker(max_object_bytes, policy)
    store = DiskObjectStore(quarantine)
    try:
        with open(pack_path, "rb") as pack:
            indexer = CheckingIndexer(pack, checker, resolve_ext_ref=store.get_raw)
            indexer.take_share(share)
            del share
            records, outside = indexer.resolve_all()
    finally:
        store.close()
    # What this share holds is not sent back as named: only what it names elsewhere.
    checker.received(hex_ids(records))
    return bytes(records), outside, checker


def _portable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling whole, else a RuntimeError saying it."""
    try:
        copy = pickle.loads(pickle.dumps(error))
        if type(copy) is type(error) and str(copy) == str(error):
            return error
    except Exception:  # noqa: BLE001 (any failure to pickle means: say it as text)
        pass
    return RuntimeError(f"{type(error).__name__}: {error}")


def _helper_main() -> None:
    request = pickle.load(sys.stdin.buffer)
    try:
        answer = ("ok", _resolve_share(*request))
    except Exception as exc:  # noqa: BLE001 (sent back, and raised there)
        answer = ("error", _portable(exc))
    pickle.dump(answer, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _helper_main()
