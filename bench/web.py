"""Benchmark: forge's code browser against klaus, on the repository of bench/git_http.py.

Both serve the same bare repository (bench/make_repo.py: 20,000 commits, 5,000 files) with two
commits added on top in a scratch copy: one adding a 2,000-line Python file, one changing 50
files. Both run under gunicorn with the same settings (2 workers x 8 threads, gthread), on
127.0.0.1 only. For each page this measures

  cold      the first request of the page (its caches empty; the workers already started)
  p50, p95  latency of sequential requests, after a warm-up that reaches both workers
  req/s     throughput of 8 clients at once

and prints a table with the ratio klaus / forge (above 1: forge is faster).

    python bench/web.py [--requests 60] [--concurrent-requests 160] [--keep]

Needs `pip install klaus gunicorn`. Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from git_http import HERE, SOURCE, WORK, free_port, wait_until_up

WORKERS, THREADS, CLIENTS = 2, 8, 8
BIG_FILE = "src/deep/nested/package/big_module.py"
TIME_CAP = 25.0  # seconds per measurement, whatever the request count


def git(*args, cwd, input=None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=input, env=env, check=True, capture_output=True
    )
    return result.stdout.decode()


# --- the repository ---------------------------------------------------------------------------


def big_module() -> bytes:
    """2,000 lines of ordinary Python."""
    lines = ['"""A long module, for the benchmark."""', "", "import math", ""]
    n = 0
    while len(lines) < 2000:
        lines += [
            "",
            f"def function_{n}(value, scale={n % 7 + 1}):",
            f'    """Scale value by {n} and take a root; see function_{n + 1}."""',
            f"    result = math.sqrt(abs(value) * scale + {n})  # n = {n}",
            "    return round(result, 3)",
        ]
        n += 1
    return ("\n".join(lines[:2000]) + "\n").encode()


def add_commits(repo: Path) -> str:
    """On top of main: a commit adding a 2,000-line file, then one changing 50 files.
    Returns the id of the 50-file commit."""
    files = git("ls-tree", "-r", "--name-only", "main", cwd=repo).split()
    changed = [f for f in files if f.startswith("pkg")][::100][:50]
    stream = []
    when = 1_800_000_000

    def header(message: str, first: bool) -> None:
        stream.append(b"commit refs/heads/main\n")
        stream.append(b"committer Bench <bench@example.org> %d +0000\n" % when)
        stream.append(b"data %d\n%s\n" % (len(message), message.encode()))
        if first:
            stream.append(b"from refs/heads/main^0\n")

    data = big_module()
    header("Add a 2,000-line module", True)
    stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (BIG_FILE.encode(), len(data), data))
    when += 60
    header("Rework 50 modules at once", False)
    for name in changed:
        lines = git("show", f"main:{name}", cwd=repo).splitlines(keepends=True)
        for index in range(10, 100, 20):
            lines[index] = f"# reworked line {index} of {name}\n"
        content = "".join(lines).encode()
        stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(content), content))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
    return git("rev-parse", "main", cwd=repo).strip()


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    base: str
    port: int
    process: subprocess.Popen
    pages: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# forge's own gunicorn settings (`forge serve` and docs/deploy.md give them too).
FORGE_CONFIG = ("--config", "python:forge.web.gunicorn_config")


def gunicorn(app: str, port: int, env: dict, cwd: Path, *options: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(WORKERS),
        "--worker-class", "gthread",
        "--threads", str(THREADS),
        "--timeout", "300",
        "--log-level", "warning",
        *options,
        app,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)


def prepare_forge(root: Path) -> Path:
    """A FORGE_HOME with user `bench` owning the public repository `big`: the benchmark copy."""
    from forge.accounts import users as accounts
    from forge.config import Settings
    from forge.db import Database
    from forge.repos import repositories as repos

    home = root / "forge-home"
    settings = Settings.from_env({"FORGE_HOME": str(home)})
    settings.ensure_home(create=True)
    database = Database(settings.database_url)
    database.upgrade()
    with database.session() as session:
        user = accounts.create_user(session, "bench", "bench@example.org", "bench-password-1")
        repos.create_repository(session, settings.repos_dir, user, "big")
    database.dispose()
    repo_dir = settings.repos_dir / "bench" / "big.git"
    for part in ("objects", "refs", "packed-refs"):
        target = repo_dir / part
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        source = SOURCE / part
        shutil.copytree(source, target) if source.is_dir() else shutil.copy(source, target)
    return home


def serve_forge(home: Path) -> tuple[subprocess.Popen, int]:
    """forge's web app on `home` under gunicorn, on SQLite: its process and port, once up."""
    env = {**os.environ, "FORGE_HOME": str(home)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    port = free_port()
    process = gunicorn("forge.app:create_app()", port, env, home, *FORGE_CONFIG)
    wait_until_up(port)
    return process, port


def start_forge(home: Path, diff_sha: str) -> Server:
    process, port = serve_forge(home)
    base = "/bench/big"
    return Server(
        "forge",
        base,
        port,
        process,
        {
            "repo home": base,
            "tree pkg07/ (100 files)": f"{base}/tree/main/pkg07",
            "blob 2,000 lines": f"{base}/blob/main/{BIG_FILE}",
            "log page 1": f"{base}/commits/main",
            "log ~10,000 deep": f"{base}/commits/main?page=200",  # 50 a page: commits 9,951-
            "commit, 50 files": f"{base}/commit/{diff_sha}",
            "blame 2,000 lines": f"{base}/blame/main/{BIG_FILE}",
        },
    )


KLAUS_WSGI = """from klaus import make_app

application = make_app([{repo!r}], "bench")
"""


def start_klaus(root: Path, repo: Path, diff_sha: str) -> Server:
    site = root / "klaus"
    site.mkdir()
    (site / "klaus_wsgi.py").write_text(KLAUS_WSGI.format(repo=str(repo)))
    port = free_port()
    process = gunicorn("klaus_wsgi:application", port, {**os.environ}, site)
    wait_until_up(port)
    base = "/big"
    return Server(
        "klaus",
        base,
        port,
        process,
        {
            "repo home": f"{base}/",
            "tree pkg07/ (100 files)": f"{base}/tree/main/pkg07",
            "blob 2,000 lines": f"{base}/blob/main/{BIG_FILE}",
            "log page 1": f"{base}/tree/main/",
            "log ~10,000 deep": f"{base}/tree/main/?page=332",  # 30 a page: commits 9,941-
            "commit, 50 files": f"{base}/commit/{diff_sha}/",
            "blame 2,000 lines": f"{base}/blame/main/{BIG_FILE}",
        },
    )


# --- measuring --------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection; get() returns (seconds, status, body length)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[float, int, int]:
        started = time.perf_counter()
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            body = response.read()
        return time.perf_counter() - started, response.status, len(body)


@dataclass
class Result:
    cold: float
    p50: float
    p95: float
    rate: float
    size: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_page(servers: list[Server], page: str, requests: int, concurrent: int) -> dict:
    """Cold, latency and throughput of one page on every server. The sequential requests
    alternate between the servers in rounds, so that whatever else the machine is doing
    weighs on all of them alike."""
    colds, clients, latencies = {}, {}, {}
    for server in servers:
        path = server.pages[page]
        clients[server.name] = Client(server.port)
        colds[server.name], status, _size = clients[server.name].get(path)
        if status != 200:
            raise RuntimeError(f"{server.name} {path}: HTTP {status}")
        # Warm-up over new connections from several clients, so that every worker has it.
        warm_up(server.port, path, WORKERS * 4)
        latencies[server.name] = []
    rounds = 6
    for _ in range(rounds):
        for server in servers:
            client, path = clients[server.name], server.pages[page]
            deadline = time.monotonic() + TIME_CAP / rounds
            for _ in range(max(1, requests // rounds)):
                if time.monotonic() > deadline:
                    break
                seconds, status, _size = client.get(path)
                assert status == 200, (server.name, path, status)
                latencies[server.name].append(seconds)
    results = {}
    for server in servers:
        done, wall = run_concurrently(server.port, server.pages[page], concurrent, CLIENTS)
        found = latencies[server.name]
        results[server.name] = Result(
            colds[server.name],
            statistics.median(found),
            percentile(found, 0.95),
            done / wall,
            0,
        )
    return results


def warm_up(port: int, path: str, count: int) -> None:
    def one():
        Client(port).get(path)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_concurrently(port: int, path: str, total: int, clients: int) -> tuple[int, float]:
    lock = threading.Lock()
    count = [0]
    deadline = time.monotonic() + TIME_CAP

    def work():
        client = Client(port)
        while time.monotonic() < deadline:
            with lock:
                if count[0] >= total:
                    return
                count[0] += 1
            _seconds, status, _size = client.get(path)
            assert status == 200, (path, status)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="forge's code browser vs klaus")
    parser.add_argument("--requests", type=int, default=60, help="sequential, for latency")
    parser.add_argument("--concurrent-requests", type=int, default=160, help="for req/s")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if not SOURCE.exists():
        print("building the benchmark repository (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "make_repo.py"), str(SOURCE)], check=True)
    root = Path(tempfile.mkdtemp(prefix="forge-web-bench-", dir=WORK))
    servers: list[Server] = []
    try:
        home = prepare_forge(root)
        repo = home / "repos" / "bench" / "big.git"
        diff_sha = add_commits(repo)
        commits = git("rev-list", "--count", "main", cwd=repo).strip()
        servers = [start_forge(home, diff_sha), start_klaus(root, repo, diff_sha)]
        for server in servers:
            # Both workers load their code and open their databases before anything is timed;
            # the front page touches no repository, so caches stay cold.
            warm_up(server.port, "/", WORKERS * 8)
        results: dict[str, dict[str, Result]] = {server.name: {} for server in servers}
        for page in servers[0].pages:
            print(f"measuring {page} ...", file=sys.stderr)
            found = measure_page(servers, page, args.requests, args.concurrent_requests)
            for name, result in found.items():
                results[name][page] = result
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(results, commits, args)


def print_table(results: dict[str, dict[str, Result]], commits: str, args) -> None:
    print(
        f"\nrepository: {commits} commits, 5,000 files; gunicorn {WORKERS} workers x {THREADS} "
        f"threads each; latency over {args.requests} sequential requests, req/s with {CLIENTS} "
        "clients; ratio = klaus / forge for times, forge / klaus for req/s (> 1: forge ahead)\n"
    )
    columns = (
        f"| {'page':<24} | {'forge cold ms':>13} | {'forge p50':>9} | {'forge p95':>9} | "
        f"{'forge req/s':>11} | {'klaus cold ms':>13} | {'klaus p50':>9} | {'klaus p95':>9} | "
        f"{'klaus req/s':>11} | {'p50 ratio':>9} | {'req/s ratio':>11} |"
    )
    print(columns)
    print("|" + "|".join("-" * len(c) for c in columns.split("|")[1:-1]) + "|")
    for page, ours in results["forge"].items():
        theirs = results["klaus"][page]
        print(
            f"| {page:<24} | {ours.cold * 1000:13.1f} | {ours.p50 * 1000:9.1f} | "
            f"{ours.p95 * 1000:9.1f} | {ours.rate:11.1f} | {theirs.cold * 1000:13.1f} | "
            f"{theirs.p50 * 1000:9.1f} | {theirs.p95 * 1000:9.1f} | {theirs.rate:11.1f} | "
            f"{theirs.p50 / ours.p50:9.2f} | {ours.rate / theirs.rate:11.2f} |"
        )
    print("\n(latencies in ms)\n")
    forge, klaus = results["forge"], results["klaus"]
    faster = all(klaus[page].p50 >= 2 * forge[page].p50 for page in forge)
    quick = all(r.p95 < 0.1 for page, r in forge.items() if not page.startswith("blame"))
    deep = forge["log ~10,000 deep"].p50 <= 2 * forge["log page 1"].p50
    for met, target in (
        (faster, "every page at least 2x faster than klaus at p50"),
        (quick, "p95 under 100 ms for every page but blame"),
        (deep, "log ~10,000 commits deep within 2x of page 1 at p50"),
    ):
        print(f"{'met    ' if met else 'NOT met'}  {target}")


if __name__ == "__main__":
    main()
