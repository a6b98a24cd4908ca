"""Receiving a pushed pack into a quarantine object directory, checked as it is indexed.

The pack goes into a private objects directory that borrows the repository's objects
(`info/alternates`); nothing in it is visible to the repository until the push is accepted
and `forge.git.smart_http` moves it in. A pushed pack is "thin": its deltas may name bases
the repository already has, which are copied in to make it whole, as git's index-pack
--fix-thin does.

dulwich's `DiskObjectStore.add_thin_pack` inflates every object three times (streaming,
indexing, then once more to check that each parses), and forge's checks would have made it
four. Here one walk over the delta chains gives both each object's index entry and its
content to `ObjectChecker`, whose checks are a superset of dulwich's parse check; only the
streaming pass, which must find where each compressed entry ends, inflates a second time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import zlib
from io import BytesIO
from pathlib import Path

from dulwich.errors import ChecksumMismatch
from dulwich.object_format import SHA1
from dulwich.object_store import PACK_MODE, DiskObjectStore
from dulwich.pack import (
    PackStreamCopier,
    UnpackedObject,
    extend_pack,
    read_pack_header,
)

from forge.git.index_pack import RECORD, CheckingIndexer, resolve, write_index
from forge.git.integrity import IntegrityError, ObjectChecker, format_size
from forge.git.packs import OFS_DELTA, REF_DELTA, read_entry_header

# A push's quarantine is objects/incoming-XXXX; one whose server process died mid-push is
# left behind, and removed by maintenance (`forge.git.maintenance.remove_stale_quarantines`).
QUARANTINE_PREFIX = "incoming-"

INFLATE_STEP = 65536  # the most one step of a streaming inflate produces
# A delta making an object of N bytes is at most N bytes of inserts, one opcode per 127 of
# them, and its two size headers.
_DELTA_OVERHEAD = 128


def receive_checked(
    objects_dir: Path, read_all, read_some, checker: ObjectChecker, say=lambda message: None
):
    """Receive a pack into a new quarantine beside `objects_dir`, checking every object;
    `say` tells the pusher how a large one is going.

    Returns the quarantine's object store (the caller closes it and removes its folder).
    Raises what reading or checking the pack raised, leaving nothing behind.
    """
    path = Path(tempfile.mkdtemp(prefix=QUARANTINE_PREFIX, dir=objects_dir))
    store = None
    try:
        # Inside the try: on a full disk even these small writes fail, and must not leave
        # an empty quarantine behind.
        (path / "pack").mkdir()
        (path / "info").mkdir()
        (path / "info" / "alternates").write_text(str(objects_dir) + "\n")
        store = DiskObjectStore(str(path))
        _receive_pack(store, read_all, read_some, checker, say)
    except BaseException:
        if store is not None:
            store.close()
        shutil.rmtree(path, ignore_errors=True)
        raise
    return store


def _receive_pack(store: DiskObjectStore, read_all, read_some, checker: ObjectChecker, say):
    fd, tmp_path = tempfile.mkstemp(dir=store.path, prefix="tmp_pack_")
    with os.fdopen(fd, "w+b") as pack_file:
        indexer = CheckingIndexer(pack_file, checker, resolve_ext_ref=store.get_raw)
        _BoundedPackStream(
            read_all, read_some, pack_file, indexer, checker.max_object_bytes
        ).verify()
        pack_file.flush()
        # The indexer reads the entries back through the file, not a mapping of it: a mapped
        # pack counts whole in the process's memory once read (323 MB for git.git).
        records, outside_bases = resolve(indexer, Path(tmp_path), store, checker, say)
        # The bases of the thin pack's deltas, copied in from the repository.
        pack_sha, extra = extend_pack(
            pack_file, set(outside_bases), get_raw=store.get_raw, object_format=SHA1
        )
    for sha, offset, crc in extra:
        records += RECORD.pack(sha, offset, crc)
    fd, index_path = tempfile.mkstemp(dir=store.pack_dir, prefix="tmp_idx_")
    with os.fdopen(fd, "wb") as index_file:
        name = write_index(index_file, records, pack_sha)
    base = Path(store.pack_dir) / f"pack-{name}"
    os.chmod(tmp_path, PACK_MODE)
    os.chmod(index_path, PACK_MODE)
    os.rename(tmp_path, base.with_suffix(".pack"))
    os.rename(index_path, base.with_suffix(".idx"))


class _BoundedPackStream(PackStreamCopier):
    """dulwich's pack stream copier, checking each entry's size before inflating it.

    dulwich inflates every entry whole into memory to find where it ends: a 1 MB pack
    holding a 1 GiB blob of zeros grew the process by 1 GiB before the size check saw it.
    Here each entry's header (and a delta's declared result size, in its first inflated
    bytes) is compared with the limit first, and the entry is inflated a step at a time,
    keeping nothing, and stopped as soon as it yields more than its header said. The
    indexing pass that follows inflates each object again, knowing it is within the limit.
    """

    def __init__(self, read_all, read_some, outfile, indexer, max_object_bytes: int):
        super().__init__(SHA1.hash_func, read_all, read_some, outfile, delta_iter=indexer)
        self.max_object_bytes = max_object_bytes

    def read_objects(self, compute_crc32: bool = False):
        try:
            _version, self._num_objects = read_pack_header(self.read)
        except struct.error:
            # dulwich unpacks a header cut short without looking at its length: a push whose
            # pack ended within 12 bytes raised struct.error out of the request (fuzzing).
            raise ValueError("the pack ends inside its header") from None
        for _ in range(self._num_objects):
            offset = self.offset
            unpacked, unused = self._read_entry()
            unpacked.offset = offset
            rest = BytesIO()  # what the inflater read past the entry is read again first
            rest.write(unused)
            rest.write(self._rbuf.read())
            rest.seek(0)
            self._rbuf = rest
            yield unpacked
        if self._buf_len() < self._hash_size:
            self.read(self._hash_size)
        trailer = bytes(self._trailer)
        if trailer != self.sha.digest():
            raise ChecksumMismatch(trailer.hex(), self.sha.hexdigest())

    def _byte(self) -> int:
        data = self.read(1)
        if not data:
            raise zlib.error("the pack ends inside an entry header")
        return data[0]

    def _read_entry(self) -> tuple[UnpackedObject, bytes]:
        header = read_entry_header(self._byte, self.read)
        kind, size = header.kind, header.size
        base: int | bytes | None = header.base_distance
        if kind == REF_DELTA:
            base = header.base_sha
        elif kind not in (1, 2, 3, 4, OFS_DELTA):
            raise ValueError(f"unknown pack entry type {kind}")
        limit = self.max_object_bytes
        check_head = None
        digest = None
        if base is not None:
            if size > limit + limit // 127 + _DELTA_OVERHEAD:
                raise IntegrityError(
                    f"a delta in the push is {format_size(size)}, larger than any object "
                    f"within the limit of {format_size(limit)}"
                )

            def check_head(head: bytes) -> None:
                result = _delta_result_size(head)
                if result > limit:
                    raise IntegrityError(
                        f"an object in the push is {format_size(result)} once its delta is "
                        f"applied, larger than the limit of {format_size(limit)}"
                    )

        elif size > limit:
            what = "file" if kind == 3 else "object"
            if size > NAMING_FACTOR * limit:
                # Naming it means inflating it all: refused unnamed, before any of that.
                raise IntegrityError(
                    f"a {what} in the push is {format_size(size)}, "
                    f"larger than the limit of {format_size(limit)}"
                )
            digest = hashlib.sha1(b"%s %d\0" % (_TYPE_NAMES[kind], size))
        unpacked = UnpackedObject(
            kind, delta_base=base, decomp_len=size, crc32=None, hash_func=SHA1.hash_func
        )
        unused = inflate_bounded(self.recv, size, check_head=check_head, digest=digest)
        if digest is not None:
            raise IntegrityError(
                f"{what} {digest.hexdigest()[:12]} is {format_size(size)}, "
                f"larger than the limit of {format_size(limit)}"
            )
        return unpacked, unused


# An object over the limit, but by no more than this factor, is inflated (a step at a time)
# to name it in the refusal; a larger one is refused from its header alone.
NAMING_FACTOR = 8
_TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
_DELTA_HEAD = 20  # two size varints, 10 bytes each at most


def inflate_bounded(read_some, size: int, check_head=None, digest=None) -> bytes:
    """Inflate one zlib stream of `size` bytes a step at a time, keeping none of it;
    `check_head` sees its first bytes before the rest is inflated, `digest` is fed it all.

    Stops, raising zlib.error, as soon as the stream yields more than `size`. Returns the
    bytes read past the end of the stream.
    """
    inflater = zlib.decompressobj()
    total = 0
    head = b""
    while not inflater.eof:
        data = inflater.unconsumed_tail or read_some(INFLATE_STEP)
        if not data:
            raise zlib.error("EOF before end of zlib stream")
        out = inflater.decompress(data, INFLATE_STEP)
        total += len(out)
        if total > size:
            raise zlib.error("decompressed data exceeds expected size")
        if digest is not None:
            digest.update(out)
        if check_head is not None and (len(head) + len(out) >= _DELTA_HEAD or inflater.eof):
            check_head(head + out[:_DELTA_HEAD])
            check_head = None
        elif check_head is not None:
            head += out
    if total != size:
        raise zlib.error("decompressed data does not match expected size")
    return inflater.unused_data


def _delta_result_size(head: bytes) -> int:
    """The result size a delta declares (after its base's size), from its first bytes."""
    position = 0
    sizes = []
    for _ in range(2):
        size = shift = 0
        while True:
            if position >= len(head):
                raise zlib.error("a delta is too short to hold its size headers")
            byte = head[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        sizes.append(size)
    return sizes[1]
