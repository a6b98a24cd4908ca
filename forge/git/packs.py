"""Serving a full clone straight from the pack on disk.

A clone asks for every branch and tag and has nothing yet. When the repository keeps all its
objects in a single pack (which the maintenance job in `forge.git.maintenance` restores after
pushes), that pack is already a valid answer: it holds every object the refs reach, with the
deltas git computed once. Streaming the file as it is costs no object walk and no memory, the
way C git reuses packs and bitmaps. Anything else (fetches, shallow or partial clones,
several packs) is left to dulwich's negotiation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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


def whole_pack_for(repo: Repo, request: Negotiation) -> BinaryIO | None:
    """The single pack file that answers this request exactly, if there is one, opened: pack
    maintenance may replace it at any moment, and an open file stays readable (a path could
    be gone by the time it was opened, after the answer had begun)."""
    if not request.done or request.other_commands or not request.wants:
        return None
    if not {b"side-band-64k", b"ofs-delta"} <= request.capabilities:
        return None
    objects = Path(repo.object_store.path)
    pack_files = list((objects / "pack").glob("pack-*.pack"))
    if len(pack_files) != 1 or _has_loose_objects(objects) or _has_alternates(objects):
        return None
    tips = {
        sha
        for name, sha in repo.get_refs().items()
        if name.startswith((b"refs/heads/", b"refs/tags/"))
    }
    # Only a request for everything (a clone) is answered with everything.
    if set(request.wants) != tips:
        return None
    try:
        return open(pack_files[0], "rb")  # noqa: SIM115 (send_whole_pack closes it)
    except FileNotFoundError:
        return None  # replaced just now: the general path answers


def send_whole_pack(
    source: BinaryIO, request: Negotiation, write: Callable[[bytes], object]
) -> None:
    with source:
        proto = Protocol(lambda n: b"", write)
        proto.write_pkt_line(b"NAK\n")
        if b"no-progress" not in request.capabilities:
            size = os.fstat(source.fileno()).st_size
            proto.write_sideband(
                SIDE_BAND_CHANNEL_PROGRESS,
                f"Sending the packed repository ({size / 1e6:.1f} MB) as it is.\n".encode(),
            )
        while chunk := source.read(CHUNK):
            proto.write_pkt_line(bytes([SIDE_BAND_CHANNEL_DATA]) + chunk)
        proto.write_pkt_line(None)


def _has_loose_objects(objects: Path) -> bool:
    with os.scandir(objects) as entries:
        return any(e.is_dir() and len(e.name) == 2 and any(os.scandir(e.path)) for e in entries)


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
