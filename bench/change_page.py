"""Benchmark: a big change request's pages against the commit page showing the same diff.

Builds a scratch repository with `git fast-import`: main holds 300 files; one commit on top
rewrites 34 lines of each (about 20,000 changed lines). It is uploaded to forge with
`git push HEAD:refs/for/main` (change #1), and forge runs under gunicorn (2 workers x 8
threads, gthread, gunicorn's default 30 s worker timeout), on 127.0.0.1 only. Measured:

  change files   /bench/big/pull/1/files: the list of files; each file's diff is its own
                 request (/pull/1/files/diff?path=...), 6 at a time as a browser fetches them
  change page    /bench/big/pull/1, the conversation (merge box included)
  commit page    /bench/big/commit/SHA: every file's diff in one response

For each: time to first byte and full load (for the files tab: the list plus every file's
fragment), cold (a fresh server, nothing cached) and warm (median of --runs). The table's
ratio is change / commit (below 1: the change's page is faster).

    python bench/change_page.py [--runs 5] [--keep]

Needs git and forge (with gunicorn) installed. Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from forge_bench import GIT_ENV, ForgeHome, create_home, free_port, start_web, stop

FILES, LINES, CHANGED = 300, 60, 34  # per file: lines, and lines rewritten by the change
BROWSER_CONNECTIONS = 6
TIMEOUT = 120  # seconds; no single request may take longer


def file_text(n: int, changed: bool) -> bytes:
    lines = []
    for i in range(LINES):
        if changed and 10 <= i < 10 + CHANGED:
            lines.append(f"    value_{n}_{i} = compute({i}, factor={n % 7}, mode='fast')  # new")
        else:
            lines.append(f"    value_{n}_{i} = compute({i})")
    return (f"def module_{n}():\n" + "\n".join(lines) + "\n    return locals()\n").encode()


def fast_import_stream() -> bytes:
    out = bytearray()

    def commit(ref: str, mark: int, parent: int | None, message: str, changed: bool):
        out.extend(f"commit {ref}\nmark :{mark}\n".encode())
        out.extend(b"committer Bench <bench@example.org> 1700000000 +0000\n")
        data = message.encode()
        out.extend(b"data %d\n%s\n" % (len(data), data))
        if parent:
            out.extend(f"from :{parent}\n".encode())
        for n in range(FILES):
            body = file_text(n, changed)
            path = f"src/pkg{n // 30}/module_{n:03d}.py"
            out.extend(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(body), body))

    commit("refs/heads/main", 1, None, "Three hundred modules", False)
    # refs/for/* wants a Change-Id trailer (forge's commit-msg hook writes one).
    message = "Rewrite the middle of every module\n\nChange-Id: I" + "b1" * 20
    commit("refs/heads/big", 2, 1, message, True)
    out.extend(b"done\n")
    return bytes(out)


def make_repository(root: Path) -> Path:
    work = root / "scratch"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], env=GIT_ENV, check=True)
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        input=fast_import_stream(),
        cwd=work,
        env=GIT_ENV,
        check=True,
    )
    subprocess.run(["git", "checkout", "-q", "big"], cwd=work, env=GIT_ENV, check=True)
    return work


# --- forge ----------------------------------------------------------------------------------


@dataclass
class Forge:
    home: ForgeHome
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = free_port()
        # gunicorn's default worker timeout: no page may come near it.
        self.process = start_web(self.home.env, self.port, timeout=30)

    def stop(self) -> None:
        stop(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()


def setup_forge(root: Path) -> tuple[Forge, str]:
    server = Forge(create_home(root))
    server.start()
    return server, server.home.token


def upload_change(server: Forge, token: str, work: Path) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    body = b'{"name": "big"}'
    conn.request(
        "POST",
        "/api/v3/user/repos",
        body,
        {"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 201, response.status
    url = f"http://bench:{token}@127.0.0.1:{server.port}/bench/big.git"
    subprocess.run(["git", "push", "-q", url, "main"], cwd=work, env=GIT_ENV, check=True)
    pushed = subprocess.run(
        ["git", "push", url, "big:refs/for/main"],
        cwd=work,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "Created change #1" in pushed.stderr, pushed.stderr
    found = subprocess.run(
        ["git", "rev-parse", "big"], cwd=work, env=GIT_ENV, capture_output=True, text=True
    )
    return found.stdout.strip()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Timing:
    ttfb: float
    full: float
    size: int


def fetch(port: int, path: str) -> Timing:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", path)
    response = conn.getresponse()
    first = response.read(1)
    ttfb = time.perf_counter() - start
    rest = response.read()
    full = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return Timing(ttfb, full, len(first) + len(rest))


def file_paths() -> list[str]:
    return [f"src/pkg{n // 30}/module_{n:03d}.py" for n in range(FILES)]


def load_change_files(port: int) -> tuple[Timing, int]:
    """The files tab and every file's fragment, BROWSER_CONNECTIONS at a time."""
    start = time.perf_counter()
    page = fetch(port, "/bench/big/pull/1/files")
    paths = file_paths()
    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        fragments = list(
            pool.map(
                lambda p: fetch(port, f"/bench/big/pull/1/files/diff?ps=1&path={quote(p)}"),
                paths,
            )
        )
    full = time.perf_counter() - start
    return Timing(page.ttfb, full, page.size + sum(f.size for f in fragments)), len(fragments)


def measure(port: int, sha: str) -> dict[str, Timing]:
    files, _count = load_change_files(port)
    return {
        "change files": files,
        "change page": fetch(port, "/bench/big/pull/1"),
        "commit page": fetch(port, f"/bench/big/commit/{sha}"),
    }


def cold(server: Forge, sha: str) -> dict[str, Timing]:
    """Each page first thing after a fresh start, so nothing one warmed helps another."""
    found = {}
    for name, run in (
        ("change files", lambda: load_change_files(server.port)[0]),
        ("change page", lambda: fetch(server.port, "/bench/big/pull/1")),
        ("commit page", lambda: fetch(server.port, f"/bench/big/commit/{sha}")),
    ):
        server.restart()
        found[name] = run()
    return found


def print_table(cold_times: dict, warm: dict[str, list[Timing]], runs: int) -> None:
    def median(name: str, attr: str) -> float:
        return statistics.median(getattr(t, attr) for t in warm[name])

    print(
        f"\n{FILES} files, {FILES * CHANGED * 2:,} changed lines; loopback, gunicorn 2x8 gthread,"
        f" warm = median of {runs}; ratio = change / commit page (< 1: the change is faster)\n"
    )
    header = (
        f"| {'page':<13} | {'cold TTFB':>9} | {'cold full':>9} | {'warm TTFB':>9} |"
        f" {'warm full':>9} | {'bytes':>10} | {'TTFB ratio':>10} | {'full ratio':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    commit_ttfb, commit_full = median("commit page", "ttfb"), median("commit page", "full")
    for name in ("change files", "change page", "commit page"):
        ttfb, full = median(name, "ttfb"), median(name, "full")
        print(
            f"| {name:<13} | {cold_times[name].ttfb * 1000:7.0f}ms | "
            f"{cold_times[name].full * 1000:7.0f}ms | {ttfb * 1000:7.0f}ms | {full * 1000:7.0f}ms |"
            f" {warm[name][-1].size:>10,} | {ttfb / commit_ttfb:>10.2f} |"
            f" {full / commit_full:>10.2f} |"
        )
    print(
        "\nchange files: TTFB of the file list; full = the list plus all "
        f"{FILES} fragments, {BROWSER_CONNECTIONS} at a time (as a browser fetches them)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="a big change's pages vs the commit page")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="forge-change-bench-"))
    server = None
    try:
        work = make_repository(root)
        server, token = setup_forge(root)
        sha = upload_change(server, token, work)
        cold_times = cold(server, sha)
        warm: dict[str, list[Timing]] = {}
        for _ in range(args.runs):
            for name, timing in measure(server.port, sha).items():
                warm.setdefault(name, []).append(timing)
        commit_html = fetch(server.port, f"/bench/big/commit/{sha}")
        print_table(cold_times, warm, args.runs)
        print(f"commit page size: {commit_html.size:,} bytes")
    finally:
        if server is not None:
            server.stop()
            server.home.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
