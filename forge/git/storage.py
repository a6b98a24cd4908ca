"""Bare repositories on disk under $FORGE_HOME/repos/OWNER/NAME.git."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from dulwich.pack import PackFileDisappeared
from dulwich.repo import Repo

from forge.git.commit_graph import loaded_graph


def repo_path(repos_dir: Path, owner: str, name: str) -> Path:
    # Lower-cased so that names differing only in case (refused by the database) never
    # collide on disk either.
    return repos_dir / owner.lower() / f"{name.lower()}.git"


def open_repo(path: Path | str) -> Repo:
    """The repository at `path`, opened for serving (raises NotGitRepository)."""
    repo = Repo(str(path))
    store = repo.object_store
    if not os.path.exists(os.path.join(store.pack_dir, "multi-pack-index")):
        # forge never writes a multi-pack index; without this, dulwich stats for one on
        # every object lookup (8% of a small fetch).
        store._use_midx = False
    # Parsed once per process, not once per opened repository (merge bases read it).
    store.get_commit_graph = functools.partial(loaded_graph, Path(path))
    return repo


def objects_bytes(path: Path) -> int:
    """Bytes the objects of the bare repository at `path` take on disk: its packs with their
    indexes and its loose objects, as `git count-objects -v` adds size-pack and size. A push's
    quarantine (objects/incoming-*) is not the repository's yet. 0 when there is none."""
    objects = path / "objects"
    total = 0
    folders = [objects / "pack"] + [objects / f"{i:02x}" for i in range(256)]
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue  # repacked away while we looked
    return total


def objects_stamp(path: Path) -> int:
    """Changes when a pack is written or removed (a push, maintenance): with the time of the
    last ref update, it says whether a size measured before still holds."""
    try:
        return (path / "objects" / "pack").stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def init_bare(path: Path, default_branch: str) -> None:
    """Create a bare repository at `path` atomically: it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=path.parent))
    try:
        repo = Repo.init_bare(str(staging))
        repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/" + default_branch.encode())
        config = repo.get_config()
        config.set((b"core",), b"logallrefupdates", False)
        config.set((b"receive",), b"fsckObjects", True)
        config.write_to_path()
        repo.close()
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def set_default_branch(path: Path, branch: str) -> None:
    with Repo(str(path)) as repo:
        repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/" + branch.encode())


def move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        raise FileExistsError(dst)
    os.rename(src, dst)


def remove(path: Path) -> None:
    """Delete a repository: renamed aside first so a crash never leaves half a repository."""
    if not path.exists():
        return
    trash = path.with_name(f".deleted-{os.getpid()}-{path.name}")
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def fork_bare(source: Path, target: Path, default_branch: str) -> None:
    """Create `target` as a copy of `source`'s branches and tags, atomically.

    Pack files are hard-linked where the filesystem allows: git never writes to a pack once
    it exists (new objects go to new files), so the two repositories still share nothing
    that either could change under the other.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fork-", dir=target.parent))
    try:
        Repo.init_bare(str(staging)).close()
        for folder in ("pack", "info"):
            (staging / "objects" / folder).mkdir(parents=True, exist_ok=True)
        objects = source / "objects"
        for item in objects.rglob("*"):
            relative = item.relative_to(objects)
            # Pushes still in quarantine, half-written files and alternates stay behind.
            skipped = relative.parts[0] == "info" or any(
                part.startswith(("incoming-", "tmp")) for part in relative.parts
            )
            if item.is_dir() or skipped:
                continue
            destination = staging / "objects" / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(item, destination)
            except OSError:
                shutil.copy2(item, destination)
        with Repo(str(source)) as original, Repo(str(staging)) as copy:
            for name, sha in original.get_refs().items():
                if name.startswith((b"refs/heads/", b"refs/tags/")):
                    copy.refs[name] = sha
            copy.refs.set_symbolic_ref(b"HEAD", b"refs/heads/" + default_branch.encode())
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# What reading a pack raises when maintenance removed it after it was listed.
PACK_GONE = (FileNotFoundError, PackFileDisappeared)


def open_packs(store) -> list:
    """The store's packs, each with its index loaded. Pack maintenance replaces packs at any
    moment (forge.git.maintenance.merge_packs writes the merged pack, then removes the old
    ones); dulwich lists a pack before it opens its index, so a pack removed in between raises
    PackFileDisappeared (or FileNotFoundError) on first use. An index once loaded stays
    readable after its file is removed. A pack gone before it could be opened means the merged
    one took its place: the listing is taken again (`packs` rescans the folder) until it holds
    none that vanished."""
    for _attempt in range(5):
        loaded, vanished = [], False
        for pack in store.packs:
            try:
                pack.index  # noqa: B018 (loads it)
            except PACK_GONE:
                vanished = True
                continue
            loaded.append(pack)
        if not vanished:
            return loaded
    return loaded
