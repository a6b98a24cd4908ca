"""Build the benchmark repository: deterministic, realistic in size, made with `git fast-import`.

20,000 commits over a tree of 5,000 files (50 folders of 100 files); each commit rewrites 40
lines of one file with new random text, so history packs to well over 50 MB with deltas.
The same seed gives the same repository, byte for byte, on every machine.

    python bench/make_repo.py DEST.git [--commits 20000] [--files 5000]
"""

from __future__ import annotations

import argparse
import base64
import random
import subprocess
import sys
import time
from pathlib import Path

LINES_PER_FILE = 100
LINES_CHANGED = 20
FOLDERS = 50


def line(rng: random.Random) -> bytes:
    return base64.b64encode(rng.randbytes(57)) + b"\n"  # 77 bytes of text that barely compresses


def build(dest: Path, commits: int, files: int, seed: int = 20261125) -> None:
    rng = random.Random(seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(dest)], check=True)
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--depth=50"], cwd=dest, stdin=subprocess.PIPE
    )
    out = importer.stdin
    names = [f"pkg{i % FOLDERS:02d}/module_{i:05d}.py" for i in range(files)]
    contents = [[line(rng) for _ in range(LINES_PER_FILE)] for _ in range(files)]
    when = 1_700_000_000

    def commit(n: int, message: str, changed: list[int]) -> None:
        nonlocal when
        when += 600
        author = f"Dev {n % 37} <dev{n % 37}@example.org> {when} +0000\n".encode()
        msg = message.encode()
        out.write(b"commit refs/heads/main\n")
        out.write(b"author " + author + b"committer " + author)
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        for index in changed:
            data = b"".join(contents[index])
            out.write(b"M 100644 inline %s\ndata %d\n" % (names[index].encode(), len(data)))
            out.write(data + b"\n")

    commit(0, "Initial import", list(range(files)))
    for n in range(1, commits):
        index = rng.randrange(files)
        for position in rng.sample(range(LINES_PER_FILE), LINES_CHANGED):
            contents[index][position] = line(rng)
        commit(n, f"Change {names[index]} (#{n})\n\nRewrites {LINES_CHANGED} lines.", [index])
    out.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "repack", "-adfq", "--window=10", "--depth=50"], cwd=dest, check=True)
    subprocess.run(["git", "pack-refs", "--all"], cwd=dest, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=5_000)
    args = parser.parse_args()
    if args.dest.exists():
        sys.exit(f"{args.dest} exists already")
    started = time.monotonic()
    build(args.dest, args.commits, args.files)
    size = sum(p.stat().st_size for p in (args.dest / "objects" / "pack").glob("*.pack"))
    print(
        f"built {args.dest}: {args.commits} commits, {args.files} files, "
        f"{size / 1e6:.1f} MB packed, in {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
