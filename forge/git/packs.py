"""Serving a full clone straight from the packs on disk, and writing packs merged.

A clone asks for every branch and tag and has nothing yet. The repository's stored objects
are already a valid answer: they hold every object the refs reach, with the deltas git
computed once. When the repository keeps them in a single pack, the file is streamed as it
is. Usually pushes have added small packs beside the big one since maintenance last merged
(`forge.git.maintenance` merges geometrically): they are streamed merged into one pack on the
fly (`write_merged`, what maintenance writes to disk): the big pack's bytes as they are, the
others' entries copied with their deltas, an object stored twice sent once. Either way there
is no object walk and no delta search, the way C git reuses packs and bitmaps, and memory
stays flat. Anything else (fetches, shallow or partial clones, forks sharing objects) is left
to dulwich's negotiation.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dulwich.object_format import SHA1
from dulwich.objects import ShaFile
from dulwich.pack import load_pack_index, pack_object_header
from dulwich.protocol import SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_PROGRESS, Protocol
from dulwich.repo import Repo

# Bytes of negotiation we are willing to look at before giving the request to dulwich.
MAX_PEEK = 1 << 20
CHUNK = 65515  # the most a side-band-64k packet carries


@dataclass
class Negotiation:
    raw: bytes
    wants: list[bytes] = field(default_factory=list)
    capabilities: set[bytes] = field(default_factory=set)
    other_commands: set[bytes] = field(default_factory=set)  # have, shallow, deepen, filter...
    done: bool = False


def read_negotiation(body) -> Negotiation | None:
    """Read the client's want/have lines (a stateless request has them all up front)."""
    raw = bytearray()  # grown in place: `bytes +=` copied it whole for every line
    request = Negotiation(raw=b"")
    while len(raw) < MAX_PEEK:
        header = body.read(4)
        raw += header
        if len(header) < 4:
            break
        try:
            length = int(header, 16)
        except ValueError:
            break
        if length == 0:
            continue  # flush between wants and done
        if length < 4:
            break
        payload = body.read(length - 4)
        raw += payload
        line = payload.rstrip(b"\n")
        command, _, rest = line.partition(b" ")
        if command == b"want":
            sha, _, caps = rest.partition(b" ")
            request.wants.append(sha)
            if caps:
                request.capabilities.update(caps.split())
        elif command == b"done":
            request.done = True
            break
        else:
            request.other_commands.add(command)
            break
    request.raw = bytes(raw)
    return request


# A clone merging more loose objects than this is left to dulwich: they are read whole up
# front (maintenance may remove them meanwhile), and only a repository maintenance has not
# reached yet holds many.
MAX_LOOSE_SERVED = 1000


@dataclass
class PackPlan:
    """One stored pack, opened (an open file stays readable when maintenance replaces the
    pack meanwhile), with its entries in pack order; or, for the first pack of a clone,
    only its index: its bytes are sent whole, and objects are looked up there by name."""

    path: Path
    entries: list[tuple[bytes, int, int, int]] | None  # sha, offset, end, crc32
    file: BinaryIO | None = None
    index: object | None = None  # dulwich's PackIndex, when entries is None

    def offset_of(self, sha: bytes) -> int | None:
        """Where `sha` is in this pack (it was not listed), or None."""
        try:
            return self.index.object_offset(sha)
        except KeyError:
            return None


@dataclass
class StoredObjects:
    """What a clone is sent: every pack of the repository and its loose objects, opened."""

    plans: list[PackPlan]
    loose: list[tuple[bytes, ShaFile]]  # sha, object

    def close(self) -> None:
        for plan in self.plans:
            if plan.file is not None:
                plan.file.close()
            if plan.index is not None:
                plan.index.close()


def stored_objects_for(
    repo: Repo, request: Negotiation, recent_tips: Callable[[Repo], set[bytes]] = lambda _: set()
) -> StoredObjects | None:
    """Everything the repository stores, opened, when that answers this request: a clone
    (nothing had, no filter or depth) from a client that takes offset deltas and side-band-64k.
    None otherwise, or when something could not be opened.

    A clone wants the tips it was shown, each a branch's or tag's now or one of the `recent`
    tips pushes replaced since (pushes land between a client's two requests all the time on
    a busy repository), and most branches and tags still hold what it wants. A fetch of one
    branch of many is left to the negotiation, which sends that branch's objects only.
    `recent_tips` is asked after the refs are read (see `smart_http._with_recent_tips`)."""
    if not request.done or request.other_commands or not request.wants:
        return None
    if not {b"side-band-64k", b"ofs-delta"} <= request.capabilities:
        return None
    objects = Path(repo.object_store.path)
    if _has_alternates(objects):
        return None  # a fork: some of its objects are its parent's
    tips = [
        sha
        for name, sha in repo.get_refs().items()
        if name.startswith((b"refs/heads/", b"refs/tags/"))
    ]
    # Only a request for (nearly) everything, a clone, is answered with everything: every
    # want a tip shown to it, and at least half the branches and tags still where it saw them.
    wanted = set(request.wants)
    if sum(sha in wanted for sha in tips) * 2 < len(tips):
        return None
    if not wanted <= set(tips) | recent_tips(repo):
        return None
    loose_paths = loose_objects(objects)
    if len(loose_paths) > MAX_LOOSE_SERVED:
        return None
    stored = StoredObjects([], [])
    try:
        for number, pack in enumerate(sorted_packs(objects / "pack")):
            # The first (and largest: maintenance made it) is sent whole: listing its entries
            # cost 0.1 s of Python a clone for dulwich's 42,000 objects.
            if number == 0:
                index = load_pack_index(str(pack.with_suffix(".idx")), SHA1)
                plan = PackPlan(pack, None, index=index)
                stored.plans.append(plan)
            else:
                plan = plan_pack(pack)
                stored.plans.append(plan)
            plan.file = open(pack, "rb")  # noqa: SIM115 (closed by StoredObjects.close)
        stored.loose = [(sha, ShaFile.from_path(str(path))) for path, sha in loose_paths]
    except FileNotFoundError:
        stored.close()
        return None  # maintenance replaced something just now: the general path answers
    if not stored.plans and not stored.loose:
        return None
    return stored


def sorted_packs(pack_dir: Path) -> list[Path]:
    """The indexed packs, oldest first: the big one maintenance made, then pushes' packs."""
    found = []
    for pack in pack_dir.glob("pack-*.pack"):
        with contextlib.suppress(FileNotFoundError):
            if pack.with_suffix(".idx").exists():
                found.append((pack.stat().st_mtime, pack.name, pack))
    return [pack for *_, pack in sorted(found)]


def plan_pack(pack: Path) -> PackPlan:
    index = load_pack_index(str(pack.with_suffix(".idx")), SHA1)
    try:
        rows = sorted((offset, sha, crc) for sha, offset, crc in index.iterentries())
    finally:
        index.close()
    end_of_data = pack.stat().st_size - 20
    entries = []
    for i, (offset, sha, crc) in enumerate(rows):
        end = rows[i + 1][0] if i + 1 < len(rows) else end_of_data
        entries.append((sha, offset, end, crc))
    return PackPlan(pack, entries)


def loose_objects(objects_dir: Path) -> list[tuple[Path, bytes]]:
    found = []
    for entry in os.scandir(objects_dir):
        if len(entry.name) == 2 and entry.is_dir():
            for obj in os.scandir(entry.path):
                if len(obj.name) == 38:
                    found.append((Path(obj.path), bytes.fromhex(entry.name + obj.name)))
    return found


def send_stored(stored: StoredObjects, request: Negotiation, write: Callable[[bytes], object]):
    """The clone's answer: NAK, then the pack on side-band 1, progress on side-band 2."""
    proto = Protocol(lambda n: b"", write)
    try:
        proto.write_pkt_line(b"NAK\n")
        if b"no-progress" not in request.capabilities:
            size = sum(os.fstat(plan.file.fileno()).st_size - 32 for plan in stored.plans)
            how = "as it is" if len(stored.plans) == 1 and not stored.loose else "merged"
            proto.write_sideband(
                SIDE_BAND_CHANNEL_PROGRESS,
                f"Sending the stored packs ({size / 1e6:.1f} MB) {how}.\n".encode(),
            )
        pending = bytearray()

        def emit(data) -> None:
            pending.extend(data)
            while len(pending) >= CHUNK:
                proto.write_pkt_line(bytes([SIDE_BAND_CHANNEL_DATA]) + pending[:CHUNK])
                del pending[:CHUNK]

        if len(stored.plans) == 1 and not stored.loose:
            source = stored.plans[0].file
            while chunk := source.read(CHUNK):  # the file as it is, checksum and all
                emit(chunk)
        else:
            write_merged(emit, stored.plans, stored.loose)
        if pending:
            proto.write_pkt_line(bytes([SIDE_BAND_CHANNEL_DATA]) + bytes(pending))
        proto.write_pkt_line(None)
    finally:
        stored.close()


def write_merged(
    write: Callable[[bytes], object], plans: list[PackPlan], loose: list[tuple[bytes, ShaFile]]
) -> tuple[list[tuple[bytes, int, int]], bytes]:
    """Write the packs and loose objects as one pack; its index entries and checksum (the
    first pack's are only listed if its plan lists them).

    The first pack's entries keep their places, so its bytes are copied whole. Offset deltas
    (OFS_DELTA) of later packs name their base by distance, recomputed as objects move. An
    object found in two packs (a push completes its thin pack with copies of bases the
    repository had) is written once, and deltas on the dropped copy point at the kept one,
    which always comes earlier in the new pack.
    """
    digest = hashlib.sha1()
    position = 0

    def emit(data) -> int:
        nonlocal position
        write(data)
        digest.update(data)
        start, position = position, position + len(data)
        return start

    emitted: dict[bytes, int] = {}  # sha -> offset in the new pack
    first = plans[0] if plans else None

    def offset_in_new_pack(sha: bytes) -> int | None:
        found = emitted.get(sha)
        if found is None and first is not None and first.entries is None:
            found = first.offset_of(sha)  # the first pack's objects keep their offsets
        return found

    later = {sha for plan in plans[1:] for sha, *_ in plan.entries} | {sha for sha, _ in loose}
    if first is None:
        total = len(later)
    elif first.entries is None:
        count = len(first.index)
        total = count + sum(first.offset_of(sha) is None for sha in later)
    else:
        total = len({sha for sha, *_ in first.entries} | later)
    emit(b"PACK" + (2).to_bytes(4, "big") + total.to_bytes(4, "big"))
    index_entries: list[tuple[bytes, int, int]] = []
    for number, plan in enumerate(plans):
        new_offset_of: dict[int, int] = {}  # old offset in this pack -> offset in the new one
        with contextlib.ExitStack() as stack:
            source = plan.file or stack.enter_context(open(plan.path, "rb"))
            data = stack.enter_context(mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ))
            if number == 0:  # right after the header, as in its own pack
                end_of_data = len(data) - 20
                for start in range(12, end_of_data, CHUNK):
                    emit(data[start : min(start + CHUNK, end_of_data)])
                for sha, offset, _end, crc in plan.entries or ():
                    emitted[sha] = offset
                    index_entries.append((sha, offset, crc))
                continue
            for sha, offset, end, crc in plan.entries:
                known = offset_in_new_pack(sha)
                if known is not None:
                    new_offset_of[offset] = known
                    continue
                header = parse_entry_header(data, offset)
                if header.kind == OFS_DELTA:
                    base_offset = new_offset_of[offset - header.base_distance]
                    distance = position - base_offset
                    new_header = pack_object_header(OFS_DELTA, distance, header.size, SHA1)
                    chunk = bytes(new_header) + data[header.end : end]
                    crc = zlib.crc32(chunk)
                else:
                    chunk = data[offset:end]
                start = emit(chunk)
                new_offset_of[offset] = start
                emitted[sha] = start
                index_entries.append((sha, start, crc))
    for sha, obj in loose:
        if offset_in_new_pack(sha) is not None:
            continue
        raw = obj.as_raw_string()
        chunk = bytes(pack_object_header(obj.type_num, None, len(raw), SHA1)) + zlib.compress(raw)
        start = emit(chunk)
        emitted[sha] = start
        index_entries.append((sha, start, zlib.crc32(chunk)))
    checksum = digest.digest()
    write(checksum)
    return index_entries, checksum


def _has_alternates(objects: Path) -> bool:
    alternates = objects / "info" / "alternates"
    return alternates.exists() and alternates.read_text().strip() != ""


# --- reading pack entries -------------------------------------------------------------------

OFS_DELTA, REF_DELTA = 6, 7


@dataclass
class EntryHeader:
    """The header of one pack entry: what follows it is the zlib-compressed data."""

    kind: int  # 1-4 for whole objects, OFS_DELTA or REF_DELTA
    size: int  # inflated size
    end: int  # where the header ends (relative to the buffer given)
    base_distance: int | None = None  # OFS_DELTA: how far back the base entry starts
    base_sha: bytes | None = None  # REF_DELTA: the base object's raw sha


def read_entry_header(next_byte, read) -> EntryHeader:
    """One entry header from a byte source: `next_byte()` gives the next byte, `read(n)` the
    next n bytes. Its `end` is 0 (the caller knows where it is). Sizes and offsets are bounded
    at 2^64: a header that goes on past that is not git's."""
    byte = next_byte()
    kind, size, shift = (byte >> 4) & 7, byte & 15, 4
    while byte & 0x80:
        if shift > 63:
            raise ValueError("an entry header declares a size beyond 2^64")
        byte = next_byte()
        size |= (byte & 0x7F) << shift
        shift += 7
    header = EntryHeader(kind, size, 0)
    if kind == OFS_DELTA:
        byte = next_byte()
        distance = byte & 0x7F
        while byte & 0x80:
            if distance > 1 << 64:
                raise ValueError("a delta's base offset is beyond 2^64")
            byte = next_byte()
            distance = ((distance + 1) << 7) | (byte & 0x7F)
        header.base_distance = distance
    elif kind == REF_DELTA:
        header.base_sha = read(20)
        if len(header.base_sha) != 20:
            raise ValueError("the pack ends inside an entry header")
    return header


def parse_entry_header(buffer, offset: int = 0) -> EntryHeader:
    """The entry header at `offset` of `buffer`; its `end` is where the data starts."""
    position = offset

    def next_byte() -> int:
        nonlocal position
        position += 1
        return buffer[position - 1]

    def read(count: int) -> bytes:
        nonlocal position
        position += count
        return bytes(buffer[position - count : position])

    header = read_entry_header(next_byte, read)
    header.end = position
    return header
