"""A push that finds the disk full: refused in git's own words (`remote: ... No space left on
device`), refs unchanged, nothing half-written left, and the next push, once there is room,
works.

The disk is a real one: a 2 MB tmpfs mounted as the repositories directory, which takes root
(CI runs as root); elsewhere the test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder = tempfile.mkdtemp(prefix="forge-tmpfs-probe-")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder], capture_output=True
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", folder], check=True)
        return True
    finally:
        os.rmdir(folder)


def _write_random(path: Path, size: int) -> None:
    path.write_bytes(os.urandom(size))  # random: git cannot compress it below the disk's size


@pytest.mark.skipif(not can_mount_tmpfs(), reason="mounting a tmpfs needs root")
def test_push_onto_a_full_disk_is_refused_in_gits_words(git, hosted_repo, settings, tmp_path):
    repos = settings.repos_dir
    repos.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(repos)], check=True)
    try:
        hosted = hosted_repo()
        work = git.init(tmp_path / "work")
        git.run("push", hosted.push_url, "main", cwd=work)
        before = git.head(work)
        bare = repos / "alice" / "project.git"

        for i in range(3):
            _write_random(work / f"big-{i}.bin", 1024 * 1024)
        git.run("add", "-A", cwd=work)
        git.run("commit", "-q", "-m", "more than fits", cwd=work)
        pushed = git.run("push", hosted.push_url, "main", cwd=work, check=False)

        assert pushed.returncode != 0
        # On a `remote:` line (the sideband) and in git's own report of the refused push.
        assert re.search(r"remote: .*no space left on device", pushed.stderr, re.I), pushed.stderr
        assert re.search(
            r"! \[remote rejected\] main -> main \(.*no space left on device", pushed.stderr, re.I
        ), pushed.stderr
        assert "remote unpack failed" in pushed.stderr
        remote = git.run("ls-remote", hosted.push_url, "refs/heads/main", cwd=work).stdout
        assert remote.split() == [before, "refs/heads/main"]
        # Nothing half-written: no quarantine, no temporary pack, no new pack.
        objects = bare / "objects"
        assert not list(objects.glob("incoming-*"))
        assert not list(objects.glob("**/tmp*"))
        assert len(list((objects / "pack").glob("*.pack"))) <= 1

        # The room the push took is free again: a push that fits lands.
        git.run("reset", "-q", "--hard", before, cwd=work)
        small = git.commit(work, {"notes.txt": "small\n"}, "fits")
        git.run("push", hosted.push_url, "main", cwd=work)
        remote = git.run("ls-remote", hosted.push_url, "refs/heads/main", cwd=work).stdout
        assert remote.split() == [small, "refs/heads/main"]
    finally:
        if subprocess.run(["umount", str(repos)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(repos)], check=False)
