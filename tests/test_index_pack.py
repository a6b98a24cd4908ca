"""The pack index forge writes for a received pack (forge.git.index_pack.write_index).

Pushed packs' indexes are compared byte for byte with git's own index-pack in
test_real_histories.py; no test pack reaches 2 GiB, so the table of large offsets is
compared here with dulwich's writer, which follows git's format.
"""

from __future__ import annotations

import hashlib
import random
from io import BytesIO

from dulwich.pack import write_pack_index

from forge.git.index_pack import RECORD, write_index


def test_offsets_past_2_gib_go_in_the_large_offset_table_as_git_writes_them():
    chooser = random.Random(7)
    entries = []
    for number in range(300):
        sha = hashlib.sha1(b"object %d" % number).digest()
        # Below 2 GiB, at it, and past 4 GiB: the 4-byte table holds the first.
        offset = chooser.choice([12 + number * 97, (1 << 31) + number, (5 << 32) + number])
        entries.append((sha, offset, chooser.getrandbits(32)))
    records = bytearray()
    for entry in entries:
        records += RECORD.pack(*entry)
    pack_checksum = hashlib.sha1(b"the pack").digest()
    ours, theirs = BytesIO(), BytesIO()
    name = write_index(ours, records, pack_checksum)
    write_pack_index(theirs, sorted(entries), pack_checksum, version=2)
    assert ours.getvalue() == theirs.getvalue()
    assert name == hashlib.sha1(b"".join(sorted(sha for sha, *_ in entries))).hexdigest()
