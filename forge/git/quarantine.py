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
import tempfile
from pathlib import Path

from dulwich.object_format import SHA1
from dulwich.object_store import PACK_MODE, DiskObjectStore
from dulwich.pack import (
    PackData,
    PackIndexer,
    PackStreamCopier,
    UnpackedObject,
    extend_pack,
    write_pack_index,
)

from forge.git.integrity import ObjectChecker


class _CheckingIndexer(PackIndexer):
    """dulwich's indexer, showing each resolved object to the checker on the way."""

    def __init__(self, file, checker: ObjectChecker, resolve_ext_ref):
        super().__init__(file, SHA1.hash_func, resolve_ext_ref=resolve_ext_ref)
        self.checker = checker

    def _result(self, unpacked: UnpackedObject):
        sha = unpacked.sha()
        self.checker.inspect(sha.hex().encode(), unpacked.obj_type_num, unpacked.obj_chunks)
        return sha, unpacked.offset, unpacked.crc32


def receive_checked(objects_dir: Path, read_all, read_some, checker: ObjectChecker):
    """Receive a pack into a new quarantine beside `objects_dir`, checking every object.

    Returns the quarantine's object store (the caller closes it and removes its folder).
    Raises what reading or checking the pack raised, leaving nothing behind.
    """
    path = Path(tempfile.mkdtemp(prefix="incoming-", dir=objects_dir))
    (path / "pack").mkdir()
    (path / "info").mkdir()
    (path / "info" / "alternates").write_text(str(objects_dir) + "\n")
    store = DiskObjectStore(str(path))
    try:
        _receive_pack(store, read_all, read_some, checker)
    except BaseException:
        store.close()
        shutil.rmtree(path, ignore_errors=True)
        raise
    return store


def _receive_pack(store: DiskObjectStore, read_all, read_some, checker: ObjectChecker) -> None:
    fd, tmp_path = tempfile.mkstemp(dir=store.path, prefix="tmp_pack_")
    with os.fdopen(fd, "w+b") as pack_file:
        indexer = _CheckingIndexer(pack_file, checker, resolve_ext_ref=store.get_raw)
        PackStreamCopier(
            SHA1.hash_func, read_all, read_some, pack_file, delta_iter=indexer
        ).verify()
        pack_file.flush()
        pack_file.seek(0)
        with PackData(tmp_path, file=pack_file, object_format=SHA1) as data:
            indexer.set_pack_data(data)
            entries = list(indexer)
        # The bases of the thin pack's deltas, copied in from the repository.
        pack_sha, extra = extend_pack(
            pack_file, set(indexer.ext_refs()), get_raw=store.get_raw, object_format=SHA1
        )
    entries.extend(extra)
    entries.sort()
    name = hashlib.sha1(b"".join(sha for sha, _offset, _crc in entries)).hexdigest()
    base = Path(store.pack_dir) / f"pack-{name}"
    os.chmod(tmp_path, PACK_MODE)
    os.rename(tmp_path, base.with_suffix(".pack"))
    with open(base.with_suffix(".idx"), "wb") as index_file:
        write_pack_index(index_file, entries, pack_sha)
