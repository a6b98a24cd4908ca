"""Benchmark: what push protection costs on a real history's first push.

Pushes the branches and tags of a real repository (flask, from ../shared/testdata's bundle,
by default) with the real `git` client into a new, empty repository on forge (gunicorn, as
`forge serve` runs it), with FORGE_PUSH_PROTECTION=off and =on in turn, --runs times each,
and reports the median wall and server CPU time of each. A first push is the scan's worst
case: every file of the history is new. Then times the scan alone in this process
(forge.repos.push_protection.scan_updates over the same history) and says what it scanned.

    python bench/push_protection.py [--bundle PATH] [--runs 3] [--keep]

Needs git and forge installed. Run by hand; nothing here is a test. Only loopback is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from git_http import git, measured, start_forge_with_repository

BUNDLE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "flask.bundle"
REFS = ("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")


def push_once(root: Path, source: Path, protection: str) -> tuple[float, float]:
    os.environ["FORGE_PUSH_PROTECTION"] = protection  # create_home passes it to forge
    server = start_forge_with_repository(root, "history")
    try:
        with measured(server, memory=False, interval=0.5) as push:
            git("push", "-q", server.push_url, *REFS, cwd=source)
    finally:
        server.stop()
        server.redis.stop()
    return push.wall, push.cpu


def scan_alone(source: Path) -> str:
    """The scan of the whole history as a first push, in this process: (seconds, what)."""
    from dulwich.repo import Repo

    from forge.git.refs import ZERO, RefUpdate
    from forge.repos.push_protection import scan_updates

    with tempfile.TemporaryDirectory() as scratch:
        # An empty repository that borrows the source's objects: no ref is old, all is new.
        empty = Path(scratch) / "empty.git"
        git("init", "-q", "--bare", str(empty))
        (empty / "objects" / "info" / "alternates").write_text(f"{source / 'objects'}\n")
        repo = Repo(str(empty))
        tips = Repo(str(source)).refs.as_dict()
        updates = [RefUpdate(ref.decode(), ZERO, sha.decode()) for ref, sha in tips.items()]
        started = time.perf_counter()
        scan = scan_updates(repo, updates)
        took = time.perf_counter() - started
    return (
        f"{took:.1f} s: {scan.scanned_bytes / 1e6:.1f} MB scanned, {len(scan.too_large)} files "
        f"over 1 MiB and {scan.binary} binary files skipped, "
        f"{scan.unscanned} files left past the budget, "
        f"{len(scan.findings)} secrets found"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="push protection's cost on a first push")
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="a git bundle of a history")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="forge-push-protection-"))
    try:
        source = root / "source.git"
        git("clone", "-q", "--mirror", str(args.bundle), str(source))
        objects = subprocess.run(
            ["git", "count-objects", "-v"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.split()
        commits = subprocess.run(
            ["git", "rev-list", "--all", "--count"],
            cwd=source, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        for run in range(args.runs):
            for protection in ("off", "on"):  # alternated, so drift in the machine's load
                scratch = root / f"{protection}-{run}"  # weighs on both alike
                scratch.mkdir()
                results[protection].append(push_once(scratch, source, protection))
                wall, cpu = results[protection][-1]
                print(f"run {run + 1}, protection {protection}: {wall:.1f} s, CPU {cpu:.1f} s")
        alone = scan_alone(source)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.bundle.name}: {commits} commits, {objects[5]} objects in packs")
    print(f"median of {args.runs} runs\n")
    print("| first push, whole history | wall s | server CPU s |")
    print("|---|---:|---:|")
    for protection, samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(f"| push protection {protection} | {wall:.1f} | {cpu:.1f} |")
    off = statistics.median(s[0] for s in results["off"])
    on = statistics.median(s[0] for s in results["on"])
    print(f"\non / off: {on / off:.2f}x wall; the scan alone, in-process: {alone}")


if __name__ == "__main__":
    main()
