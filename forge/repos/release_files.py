"""Where release assets' bytes live: FORGE_HOME/releases/<repository id>/<asset id>, beside the
repositories and outside the database (which holds only their names, sizes and digests).

An upload is written to a temporary file in the repository's folder, fsynced, and renamed
into place once its row has an id, so a reader never sees half a file; a rolled-back upload
and a deleted release or repository remove their files after the transaction ends."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The upload went past the limit; nothing of it is kept."""


def root_beside(repos_dir: Path) -> Path:
    """The assets' folder of the forge whose repositories are in `repos_dir` (both sit in
    FORGE_HOME: Settings.releases_dir), for callers that are only given the repositories'."""
    return repos_dir.parent / "releases"


def asset_path(root: Path, repository_id: int, asset_id: int) -> Path:
    return root / str(repository_id) / str(asset_id)


@dataclass
class Received:
    """An upload written to disk under a temporary name, not yet an asset."""

    path: Path
    size: int
    digest: str  # "sha256:<hex>", GitHub's format

    def keep_as(self, final: Path) -> None:
        os.replace(self.path, final)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def receive(root: Path, repository_id: int, chunks: Iterable[bytes], limit: int) -> Received:
    """Write `chunks` to a temporary file of the repository's folder; TooLarge (and nothing
    left on disk) once more than `limit` bytes arrive."""
    folder = root / str(repository_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".upload-{uuid.uuid4().hex}"
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"the file is larger than the {limit // (1024 * 1024)} MB allowed"
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path, size, "sha256:" + digest.hexdigest())


def read_chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def remove_repository(root: Path, repository_id: int) -> None:
    shutil.rmtree(root / str(repository_id), ignore_errors=True)
