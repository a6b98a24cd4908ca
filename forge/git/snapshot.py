"""A repository's snapshot for a backup: its refs read under the ref lock, its objects copied
after, written into a tar archive as a bare repository that git opens as it is.

Why copying objects after the refs were read is enough: git objects never change once written
(a loose object or a pack is written to a temporary name and renamed into place, a pack's index
last), so every object a captured ref reaches is already in place when the ref is read, and
stays there. Only maintenance removes objects (merging packs deletes the merged ones); it runs
under `forge-maintenance.lock`, which the copy holds, so nothing the copy lists disappears while
it reads. Objects that arrive after the refs were read (a later push) may be copied too; nothing
refers to them, and git ignores them.
"""

from __future__ import annotations

import fcntl
import io
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dulwich.repo import Repo

# Files of a bare repository copied as they are; refs come from the snapshot instead, and
# locks, quarantines and temporary files stay behind.
_SKIPPED_TOP = {"refs", "packed-refs", "HEAD", "logs", "objects", "forge-refs.lock"}


@dataclass
class RepoSnapshot:
    """What a repository's refs said at one moment: HEAD's file and every ref's value."""

    head: bytes
    refs: dict[bytes, bytes]
    peeled: dict[bytes, bytes]  # what each annotated tag's ref peels to


def capture(repo: Repo) -> RepoSnapshot:
    """Read HEAD and every ref; the caller holds `forge.git.refs.locked_refs(repo)`."""
    head = (Path(repo.controldir()) / "HEAD").read_bytes()
    refs = {
        name: sha
        for name, sha in repo.refs.as_dict().items()
        if name.startswith(b"refs/") and len(sha) == 40
    }
    peeled = {}
    for name, sha in refs.items():
        if name.startswith(b"refs/tags/"):
            obj = repo.object_store[sha]
            while obj.type_name == b"tag":
                obj = repo.object_store[obj.object[1]]
            if obj.id != sha:
                peeled[name] = obj.id
    return RepoSnapshot(head=head, refs=refs, peeled=peeled)


@contextmanager
def maintenance_paused(path: Path):
    """Hold the lock `forge.git.maintenance` takes before it deletes merged packs."""
    with open(Path(path) / "forge-maintenance.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def add_to_tar(tar: tarfile.TarFile, arcname: str, path: Path, snapshot: RepoSnapshot) -> None:
    """Write the repository at `path` into `tar` under `arcname`, its refs as in `snapshot`
    (one `packed-refs` file, which git and dulwich read as they read loose refs; the peeled
    lines let the restored repository advertise its tags' commits, `tag^{}`, as before)."""
    path = Path(path)
    _add_dir(tar, arcname)
    for sub in ("refs", "refs/heads", "refs/tags", "objects", "objects/pack", "objects/info"):
        _add_dir(tar, f"{arcname}/{sub}")
    _add_bytes(tar, f"{arcname}/HEAD", snapshot.head)
    lines = [b"# pack-refs with: peeled fully-peeled sorted \n"]
    for name, sha in sorted(snapshot.refs.items()):
        lines.append(sha + b" " + name + b"\n")
        if name in snapshot.peeled:
            lines.append(b"^" + snapshot.peeled[name] + b"\n")
    _add_bytes(tar, f"{arcname}/packed-refs", b"".join(lines))
    for item in sorted(path.iterdir()):
        if item.name in _SKIPPED_TOP or item.name.endswith(".lock") or item.is_symlink():
            continue
        tar.add(str(item), arcname=f"{arcname}/{item.name}", recursive=True)
    with maintenance_paused(path):
        _add_objects(tar, arcname, path / "objects")


def _add_objects(tar: tarfile.TarFile, arcname: str, objects: Path) -> None:
    for fanout in sorted(objects.iterdir()):
        # Loose objects: two hex digits, then the rest; temporary files start with tmp.
        if len(fanout.name) == 2 and fanout.is_dir():
            for item in sorted(fanout.iterdir()):
                if len(item.name) == 38 and item.is_file():
                    tar.add(str(item), arcname=f"{arcname}/objects/{fanout.name}/{item.name}")
    pack_dir = objects / "pack"
    if not pack_dir.is_dir():
        return
    # A pack counts once its index is there (a push moves the index in last); its other
    # files (.rev, .bitmap) follow it when present.
    for index in sorted(pack_dir.glob("pack-*.idx")):
        for suffix in (".pack", ".idx", ".rev", ".bitmap"):
            member = index.with_suffix(suffix)
            if member.exists():
                tar.add(str(member), arcname=f"{arcname}/objects/pack/{member.name}")


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = int(time.time())
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))
