"""Pack reverse indexes: which object sits at an offset of a pack, and where its entry ends.

A pack index (.idx) maps object names to offsets; copying an entry out of a pack needs the
other direction (the next entry's offset is where this one ends, and an offset delta names
its base by position). Git keeps that direction in a `.rev` file beside the pack (one
4-byte index position per object, in pack order; see git's gitformat-pack). forge writes
one for every pack it makes (`forge.git.maintenance`) and reads it back in a few
milliseconds; for a pack without one (a repository copied in, a pack just pushed) the same
table is sorted in memory, which costs about 20 ms per 100,000 objects, once per process.
"""

from __future__ import annotations

import array
import bisect
import functools
import hashlib
import os
import sys
from pathlib import Path

IDX_MAGIC = b"\xfftOc\x00\x00\x00\x02"
REV_MAGIC = b"RIDX"
REV_VERSION = 1
SHA1_ID = 1
FANOUT_END = 8 + 256 * 4
LARGE_OFFSET = 0x80000000  # packs over 2 GiB keep big offsets in a second table


class ReverseIndex:
    """Offsets and names of one pack's objects, searchable by offset."""

    def __init__(self, idx_path: str | Path):
        idx_path = Path(idx_path)
        raw = idx_path.read_bytes()
        if raw[:8] != IDX_MAGIC:
            raise ValueError(f"{idx_path} is not a version 2 pack index")
        count = int.from_bytes(raw[FANOUT_END - 4 : FANOUT_END], "big")
        self.count = count
        self.names = raw[FANOUT_END : FANOUT_END + count * 20]  # sorted, 20 bytes each
        offsets_at = FANOUT_END + count * 24  # after the names and their CRC32s
        offsets = _big_endian_array("I", raw[offsets_at : offsets_at + count * 4])
        if count and max(offsets) & LARGE_OFFSET:
            large_at = offsets_at + count * 4
            offsets = array.array("Q", (_large(raw, large_at, v) for v in offsets))
        self.offsets = offsets  # in name order
        self.pack_checksum = raw[-40:-20]
        rev_path = idx_path.with_suffix(".rev")
        positions = _read_rev(rev_path, count, self.pack_checksum)
        if positions is None:
            positions = array.array("I", sorted(range(count), key=offsets.__getitem__))
        self.positions = positions  # name-order positions, in pack order

    def end_of(self, offset: int, pack_size: int) -> int:
        """Where the entry at `offset` ends: the next entry, or the pack's checksum."""
        i = bisect.bisect_right(self.positions, offset, key=self.offsets.__getitem__)
        if i < self.count:
            return self.offsets[self.positions[i]]
        return pack_size - 20

    def name_at(self, offset: int) -> bytes:
        """The raw name of the object whose entry starts at `offset` (KeyError if none)."""
        i = bisect.bisect_left(self.positions, offset, key=self.offsets.__getitem__)
        if i == self.count or self.offsets[self.positions[i]] != offset:
            raise KeyError(offset)
        at = self.positions[i] * 20
        return self.names[at : at + 20]


def reverse_index(idx_path: str | Path) -> ReverseIndex:
    """The reverse index of a pack, kept per process while the file stays the same."""
    stat = os.stat(idx_path)
    return _cached(str(idx_path), stat.st_ino, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _cached(idx_path: str, _inode: int, _mtime_ns: int) -> ReverseIndex:
    return ReverseIndex(idx_path)


def write_rev(rev_path: Path, names_in_pack_order: list[bytes], pack_checksum: bytes) -> None:
    """Write git's .rev file for a pack whose objects are `names_in_pack_order`."""
    position_of = {name: i for i, name in enumerate(sorted(names_in_pack_order))}
    positions = array.array("I", (position_of[name] for name in names_in_pack_order))
    if sys.byteorder == "little":
        positions.byteswap()
    body = (
        REV_MAGIC
        + REV_VERSION.to_bytes(4, "big")
        + SHA1_ID.to_bytes(4, "big")
        + positions.tobytes()
        + pack_checksum
    )
    tmp = rev_path.with_name(f"tmp_rev_{os.getpid()}_{rev_path.name}")
    try:
        with open(tmp, "wb") as out:
            out.write(body + hashlib.sha1(body).digest())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, rev_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_rev(rev_path: Path, count: int, pack_checksum: bytes) -> array.array | None:
    """The positions stored in a .rev file, or None when it is missing or does not fit."""
    try:
        raw = rev_path.read_bytes()
    except FileNotFoundError:
        return None
    header_ok = (
        raw[:4] == REV_MAGIC
        and int.from_bytes(raw[4:8], "big") == REV_VERSION
        and int.from_bytes(raw[8:12], "big") == SHA1_ID
    )
    if (
        not header_ok
        or len(raw) != 12 + count * 4 + 40
        or raw[-40:-20] != pack_checksum
        or hashlib.sha1(raw[:-20]).digest() != raw[-20:]
    ):
        return None  # another pack's, or damaged: sort in memory instead
    return _big_endian_array("I", raw[12 : 12 + count * 4])


def _large(raw: bytes, large_at: int, value: int) -> int:
    if not value & LARGE_OFFSET:
        return value
    at = large_at + (value & ~LARGE_OFFSET) * 8
    return int.from_bytes(raw[at : at + 8], "big")


def _big_endian_array(typecode: str, data: bytes) -> array.array:
    values = array.array(typecode, data)
    if sys.byteorder == "little":
        values.byteswap()
    return values
