"""Benchmark: pushing and cloning a real history (git.git) through forge and through C git.

A first push of a whole history is the heaviest thing a user asks of a forge: every object
is checked and indexed, and nothing can be reused. This pushes the branches and tags of a
real repository (by default git.git, as the search tool's `fetch github:git/git` leaves it
under /work/.mirror) with the real `git` client over 127.0.0.1 into an empty repository on
  forge            gunicorn running forge (2 workers x 8 threads), as `forge serve` runs it
  http-backend     C git's `git http-backend` (CGI) behind lighttpd, pushes behind HTTP Basic
then clones it back from each. For each step it reports wall time, the server's CPU time and
its peak memory (PSS of the serving process tree, sampled every half second: a step takes
minutes, so sampling costs nothing measurable), and the ratio forge / C git.

    python bench/real_push.py [--source /path/to/repo.git] [--keep]

Only the branches and tags are pushed (a mirror of GitHub also holds refs/pull/*, some of
whose objects a partial fetch leaves out). Needs git, lighttpd and forge installed. Run by
hand; nothing here is a test. Only loopback is used.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from forge_bench import GIT_ENV
from git_http import Sample, Server, git, measured, start_forge_with_repository, start_lighttpd

GIT_MIRROR = Path("/work/.mirror/git+git/repo")
REFS = ("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")


def start_forge(root: Path) -> Server:
    return start_forge_with_repository(root, "real")


def start_http_backend(root: Path) -> Server:
    site = root / "http-backend"
    repo_dir = site / "repos" / "real.git"
    git("init", "-q", "--bare", str(repo_dir))
    git("config", "http.receivepack", "true", cwd=repo_dir)
    return start_lighttpd(site, "real.git", repo_dir)


def push_and_clone(server: Server, source: Path, root: Path) -> tuple[Sample, Sample]:
    with measured(server, memory=True, interval=0.5) as push:
        git("push", "-q", server.push_url, *REFS, cwd=source)
    clone = root / f"clone-{server.name}.git"
    with measured(server, memory=True, interval=0.5) as cloned:
        git("clone", "-q", "--bare", server.url, str(clone))
    for step, sample in (("push", push), ("clone", cloned)):
        print(
            f"{server.name} {step}: {sample.wall:.1f} s, CPU {sample.cpu:.1f} s, "
            f"peak {sample.peak_mb:.0f} MB",
            flush=True,
        )
    if git_refs(clone) != git_refs(source):  # what was pushed came back, every ref the same
        sys.exit(f"{server.name}: the clone's branches and tags differ from the source's")
    shutil.rmtree(clone)
    return push, cloned


def git_refs(repo: Path) -> dict[str, str]:
    listed = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
        cwd=repo,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    return dict(line.split(" ", 1) for line in listed if line)


def main() -> None:
    parser = argparse.ArgumentParser(description="a real history pushed to forge and to C git")
    parser.add_argument("--source", type=Path, default=GIT_MIRROR, help="a bare repository")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--only", choices=["forge", "http-backend"], help="one server, no table")
    args = parser.parse_args()
    if not (args.source / "objects").is_dir():
        sys.exit(f"{args.source} is not a bare repository (fetch github:git/git brings git.git)")
    root = Path(tempfile.mkdtemp(prefix="forge-real-push-"))
    results = {}
    try:
        starts = {"http-backend": start_http_backend, "forge": start_forge}
        if args.only:
            starts = {args.only: starts[args.only]}
        for name, start in starts.items():
            (root / name).mkdir()
            server = start(root / name)
            try:
                results[server.name] = push_and_clone(server, args.source, root)
            finally:
                server.stop()
                if getattr(server, "redis", None) is not None:
                    server.redis.stop()
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if len(results) == 2:
        print_table(results, args.source)


def print_table(results: dict[str, tuple[Sample, Sample]], source: Path) -> None:
    objects = subprocess.run(
        ["git", "count-objects", "-v"], cwd=source, capture_output=True, text=True, check=True
    ).stdout
    print(f"\nsource: {source} ({' '.join(objects.split()[4:6])} objects in packs)\n")
    print("| step | server | wall s | server CPU s | peak MB | forge / C git (wall, memory) |")
    print("|---|---|---:|---:|---:|---|")
    for index, step in enumerate(("push, whole history", "clone")):
        reference = results["http-backend"][index]
        for name, samples in results.items():
            sample = samples[index]
            ratio = ""
            if name == "forge":
                ratio = (
                    f"{sample.wall / reference.wall:.2f}x, "
                    f"{sample.peak_mb / reference.peak_mb:.2f}x"
                )
            print(
                f"| {step} | {name} | {sample.wall:.1f} | {sample.cpu:.1f} | "
                f"{sample.peak_mb:.0f} | {ratio} |"
            )


if __name__ == "__main__":
    main()
