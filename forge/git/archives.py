"""A revision's tree as a download: .tar.gz through dulwich's tar_stream, .zip streamed as it is
made. Both leave out what git archive would refuse to write (`..`, `.git`, empty parts)."""

from __future__ import annotations

import io
import stat
import time
import zipfile
from collections.abc import Iterator

from dulwich.archive import UnsafeArchivePathError, tar_stream

SUBMODULE_MODE = 0o160000


def tar_gz(reader, tree: str, prefix: str, mtime: int) -> Iterator[bytes]:
    tree_obj = reader.tree_object(tree)
    try:
        yield from tar_stream(reader.store, tree_obj, mtime, prefix.encode(), format="gz")
    except UnsafeArchivePathError:
        return  # git archive refuses such trees too; the download ends short


def zip_stream(reader, tree: str, prefix: str, mtime: int) -> Iterator[bytes]:
    sink = _Sink()
    stamp = time.gmtime(max(mtime, 315532800))[:6]  # zip cannot date before 1980
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, mode, sha in _files(reader, tree.encode(), b""):
            if _unsafe(path):
                continue
            info = zipfile.ZipInfo(prefix + path.decode("utf-8", "replace"), stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode bits below count
            if stat.S_ISLNK(mode):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            else:
                info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            archive.writestr(info, reader.blob(sha.decode()))
            yield sink.take()
    yield sink.take()


def _files(reader, tree: bytes, base: bytes) -> Iterator[tuple[bytes, int, bytes]]:
    for name, mode, sha in reader.tree_items(tree):
        path = base + name
        if mode == SUBMODULE_MODE:
            continue
        if stat.S_ISDIR(mode):
            yield from _files(reader, sha, path + b"/")
        else:
            yield path, mode, sha


class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written so far: zipfile streams into it."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _unsafe(path: bytes) -> bool:
    return any(part in (b"", b".", b"..") or part.lower() == b".git" for part in path.split(b"/"))
