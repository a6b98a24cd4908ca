"""Bare repositories on disk under $FORGE_HOME/repos/OWNER/NAME.git."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dulwich.repo import Repo


def repo_path(repos_dir: Path, owner: str, name: str) -> Path:
    # Lower-cased so that names differing only in case (refused by the database) never
    # collide on disk either.
    return repos_dir / owner.lower() / f"{name.lower()}.git"


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
