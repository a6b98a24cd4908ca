"""Benchmark: forge's git over HTTP against C git's own servers, measured in one run.

Serves the same repository (bench/make_repo.py: 20,000 commits, 5,000 files) from
  forge            gunicorn running forge (2 workers x 8 threads), as `forge serve` runs it
  http-backend     C git's `git http-backend` (CGI) behind lighttpd, pushes behind HTTP Basic
  git-daemon       C git's `git daemon` (git:// protocol), a second reference
and times, with the real `git` client over 127.0.0.1: a full clone, a no-op fetch, an
incremental fetch of 100 commits, a push of 100 commits and 8 clones at once. For each it
reports wall time (median of --runs), the server's CPU time and its peak memory (PSS of the
serving process tree, sampled in one more run so that sampling does not slow the timed ones),
and prints the ratio forge / C git (http-backend).

    python bench/git_http.py [--runs 3] [--keep]

Needs git, lighttpd (`apt-get install lighttpd`) and forge installed. Run by hand; nothing
here is a test. Only loopback is used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import requests
from forge_bench import FORGE, GIT_ENV, create_home, free_port, start_web, wait_until_up
from rq import Queue
from rq.registry import StartedJobRegistry

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
SOURCE = WORK / "big.git"


def git(*args, cwd=None, check=True, quiet=True):
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=check,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )


# --- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str  # clone URL of the benchmark repository
    push_url: str
    process: subprocess.Popen
    repo_dir: Path
    extra: list = field(default_factory=list)  # helper processes not measured (forge's worker)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        for proc in [self.process, *self.extra]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.process, *self.extra]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def copy_repository(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SOURCE, target)


def start_forge(root: Path) -> Server:
    server = start_forge_with_repository(root, "big")
    for part in ("objects", "refs", "packed-refs"):
        target = server.repo_dir / part
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        source = SOURCE / part
        shutil.copytree(source, target) if source.is_dir() else shutil.copy(source, target)
    return server


def start_forge_with_repository(root: Path, name: str) -> Server:
    """forge serving the user "bench"'s new, empty repository `name`."""
    # The embedded Redis and a worker, as `forge serve` runs them, but outside the measured
    # tree: the web server is what answers git, as lighttpd + http-backend do for C git.
    forge_home = create_home(root)
    worker = subprocess.Popen(
        [*FORGE, "worker"], env=forge_home.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    port = free_port()
    web = start_web(forge_home.env, port)
    token = forge_home.token
    response = requests.post(
        f"http://127.0.0.1:{port}/api/v3/user/repos",
        json={"name": name},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    response.raise_for_status()
    server = Server(
        "forge",
        f"http://127.0.0.1:{port}/bench/{name}.git",
        f"http://bench:{token}@127.0.0.1:{port}/bench/{name}.git",
        web,
        forge_home.home / "repos" / "bench" / f"{name}.git",
        extra=[worker],
    )
    server.redis = forge_home.redis
    return server


LIGHTTPD_CONF = """
server.modules = ("mod_alias", "mod_cgi", "mod_setenv", "mod_auth", "mod_authn_file")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/lighttpd-error.log"
server.max-request-size = 0
alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
auth.backend = "plain"
auth.backend.plain.userfile = "{root}/users"
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}/repos", "GIT_HTTP_EXPORT_ALL" => "1")
}}
# Pushes need a user, as forge's do (git-http-backend's documented set-up): the client's
# first request is answered 401 and it retries with its credentials, on both servers.
$HTTP["querystring"] =~ "service=git-receive-pack" {{
  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}}
$HTTP["url"] =~ "^/git/.*/git-receive-pack$" {{
  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}}
"""


def start_http_backend(root: Path) -> Server:
    site = root / "http-backend"
    repo_dir = site / "repos" / "big.git"
    copy_repository(repo_dir)
    git("config", "http.receivepack", "true", cwd=repo_dir)
    return start_lighttpd(site, "big.git", repo_dir)


def start_lighttpd(site: Path, name: str, repo_dir: Path) -> Server:
    """C git's http-backend behind lighttpd, serving the repositories under `site`/repos."""
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not os.path.exists(lighttpd):
        sys.exit("lighttpd is needed for the C git reference: apt-get install lighttpd")
    port = free_port()
    conf = site / "lighttpd.conf"
    conf.write_text(LIGHTTPD_CONF.format(root=site, port=port))
    (site / "users").write_text("bench:bench-password\n")
    process = subprocess.Popen([lighttpd, "-D", "-f", str(conf)])
    wait_until_up(port)
    url = f"http://127.0.0.1:{port}/git/{name}"
    push_url = f"http://bench:bench-password@127.0.0.1:{port}/git/{name}"
    return Server("http-backend", url, push_url, process, repo_dir)


def start_git_daemon(root: Path) -> Server:
    base = root / "daemon"
    repo_dir = base / "big.git"
    copy_repository(repo_dir)
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            f"--base-path={base}",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(port)
    url = f"git://127.0.0.1:{port}/big.git"
    return Server("git-daemon", url, url, process, repo_dir)


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float
    peak_mb: float


def cpu_of(processes: list[psutil.Process]) -> dict[int, float]:
    seen = {}
    for proc in processes:
        try:
            t = proc.cpu_times()
            seen[proc.pid] = t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return seen


@contextmanager
def measured(server: Server, memory: bool, interval: float = 0.02):
    """Wall time, CPU seconds and, with `memory`, peak memory (sum of PSS) of the server's
    process tree.

    Reading a process's PSS walks its memory map under the kernel's lock on it (about 1 ms
    for a 100 MB forge worker, 0.3 ms for lighttpd), stalling that process's own mapping of
    files and costing forge, whose workers map packs per request, several ms on a 50 ms
    fetch; so runs that time an operation read only CPU times, and memory has a run of its
    own."""
    before = cpu_of(server.tree())
    peak = [0.0]
    last_cpu: dict[int, float] = dict(before)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            total = 0
            for proc in server.tree():
                try:
                    total += proc.memory_full_info().pss if memory else 0
                    t = proc.cpu_times()
                    last_cpu[proc.pid] = t.user + t.system + t.children_user + t.children_system
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = Sample(0.0, 0.0, 0.0)
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        after = cpu_of(server.tree())
        last_cpu.update(after)
        # Processes that ended during the run are counted through their parents' child times,
        # or by their last sample when no parent waited for them inside the tree.
        result.cpu = sum(last_cpu.values()) - sum(before.values())
        result.peak_mb = peak[0] / 1e6


def wait_for_maintenance(server: Server, timeout: float = 120.0) -> None:
    """Until forge's job worker has nothing queued or running twice in a row: what a push sets
    off (maintenance: a pack merge when one is due, the commit-graph, the home page's walk)
    must not run into the next measurement. This waited for the repository to be one pack
    until maintenance began merging geometrically (30ea84d), and then waited its whole
    timeout after every push."""
    time.sleep(0.5)  # the push's jobs are enqueued once its transaction has ended
    connection = redis.Redis.from_url(server.redis.url)
    deadline, idle = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and idle < 2:
        queues = Queue.all(connection=connection)
        busy = any(queue.count or StartedJobRegistry(queue=queue).count for queue in queues)
        idle = 0 if busy else idle + 1
        time.sleep(0.2)


def prepare_clients(root: Path) -> tuple[Path, Path]:
    """A client 100 commits behind (for the incremental fetch) and one with the full history."""
    behind = root / "client-behind.git"
    if not behind.exists():
        git("clone", "--bare", "--no-local", "-q", str(SOURCE), str(behind))
        git("update-ref", "refs/heads/main", "main~100", cwd=behind)
        git("reflog", "expire", "--expire=now", "--all", cwd=behind)
        git("gc", "--prune=now", "-q", cwd=behind)
    full = root / "client-full.git"
    if not full.exists():
        git("clone", "--bare", "--no-local", "-q", str(SOURCE), str(full))
    return behind, full


def hundred_new_commits(repo: Path, branch: str, salt: str) -> None:
    """Append 100 commits with unique content to `branch` (made from main) of `repo`."""
    lines = []
    for n in range(100):
        data = f"{salt} change {n}\n".encode() * 40
        msg = f"bench push {salt} {n}".encode()
        lines.append(b"commit refs/heads/" + branch.encode() + b"\n")
        # Dated now, after the history they build on, as real new commits are.
        lines.append(b"committer Bench <bench@example.org> %d +0000\n" % int(time.time()))
        lines.append(b"data %d\n%s\n" % (len(msg), msg))
        if n == 0:
            lines.append(b"from refs/heads/main\n")
        lines.append(
            b"M 100644 inline bench/%s-%d.txt\ndata %d\n%s\n" % (salt.encode(), n, len(data), data)
        )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(lines), check=True)


@dataclass
class Measures:
    """What one server measured: timed samples per operation, and peak MB per operation."""

    timed: dict[str, list[Sample]] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)

    def record(self, op: str, sample: Sample, memory: bool) -> None:
        if memory:
            self.peaks[op] = sample.peak_mb
        else:
            self.timed.setdefault(op, []).append(sample)


def warm_up(server: Server, root: Path) -> None:
    """Warm up every server the same way (page cache, worker processes, per-pack tables), so
    the figures are those of a server that has been up for a while, not of its first request."""
    behind, full = prepare_clients(root)
    scratch = root / f"scratch-{server.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for _ in range(4):
        git("ls-remote", server.url)
        warm = scratch / "warm.git"
        subprocess.run(["cp", "-al", str(behind), str(warm)], check=True)
        git("fetch", "-q", server.url, "refs/heads/main:refs/remotes/origin/main", cwd=warm)
        shutil.rmtree(warm)
    # And pushes: a server that has been up for a while has taken pushes (forge's web
    # workers compile their first push's SQL once, as any long-running server would).
    for n in range(2):
        pusher = scratch / "warm-pusher.git"
        subprocess.run(["cp", "-al", str(full), str(pusher)], check=True)
        hundred_new_commits(pusher, f"warm-{n}", f"{server.name}-warm-{n}")
        git("push", "-q", server.push_url, f"warm-{n}:refs/heads/warm-{n}", cwd=pusher)
        shutil.rmtree(pusher)
        if server.name == "forge":
            wait_for_maintenance(server)


def run_once(server: Server, root: Path, run: int, memory: bool, measures: Measures) -> None:
    """Each operation once against the server; `memory` samples memory instead of timing."""
    behind, full = prepare_clients(root)
    scratch = root / f"scratch-{server.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    clone = scratch / "clone.git"
    with measured(server, memory) as sample:
        git("clone", "--bare", "-q", server.url, str(clone))
    measures.record("full clone", sample, memory)

    with measured(server, memory) as sample:
        git("fetch", "-q", server.url, "+refs/heads/*:refs/heads/*", cwd=clone)
    measures.record("no-op fetch", sample, memory)

    client = scratch / "behind.git"
    subprocess.run(["cp", "-al", str(behind), str(client)], check=True)
    with measured(server, memory) as sample:
        git("fetch", "-q", server.url, "refs/heads/main:refs/remotes/origin/main", cwd=client)
    measures.record("fetch 100 commits", sample, memory)

    clones = [scratch / f"c{i}.git" for i in range(8)]
    with measured(server, memory) as sample:
        procs = [
            subprocess.Popen(["git", "clone", "--bare", "-q", server.url, str(c)], env=GIT_ENV)
            for c in clones
        ]
        codes = [p.wait() for p in procs]
    if any(codes):
        raise RuntimeError(f"{server.name}: a concurrent clone failed: {codes}")
    measures.record("8 clones at once", sample, memory)

    pusher = scratch / "pusher.git"
    subprocess.run(["cp", "-al", str(full), str(pusher)], check=True)
    branch = f"push-{run}"
    hundred_new_commits(pusher, branch, f"{server.name}-{run}")
    with measured(server, memory) as sample:
        git("push", "-q", server.push_url, f"{branch}:refs/heads/{branch}", cwd=pusher)
    measures.record("push 100 commits", sample, memory)
    if server.name == "forge":
        wait_for_maintenance(server)
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="forge vs C git over HTTP")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if not SOURCE.exists():
        print("building the benchmark repository (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "make_repo.py"), str(SOURCE)], check=True)
    pack_mb = sum(p.stat().st_size for p in (SOURCE / "objects/pack").glob("*.pack")) / 1e6
    commits = subprocess.run(
        ["git", "rev-list", "--count", "main"], cwd=SOURCE, capture_output=True, text=True
    ).stdout.strip()
    root = Path(tempfile.mkdtemp(prefix="forge-bench-", dir=WORK))
    servers = []
    try:
        servers = [start_forge(root), start_http_backend(root), start_git_daemon(root)]
        results = {server.name: Measures() for server in servers}
        for server in servers:
            warm_up(server, root)
        # The servers take turns run by run, so a machine that slows down or speeds up
        # during the benchmark moves all three alike and the ratios stay fair. The runs
        # that are timed come first, then one more that measures memory (see `measured`).
        for run in range(args.runs + 1):
            print(f"run {run + 1} of {args.runs + 1} ...", file=sys.stderr)
            for server in servers:
                run_once(server, root, run, run == args.runs, results[server.name])
    finally:
        for server in servers:
            server.stop()
            if getattr(server, "redis", None):
                server.redis.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(results, commits, pack_mb, args.runs)


def median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def print_table(measures, commits: str, pack_mb: float, runs: int) -> None:
    results = {name: m.timed for name, m in measures.items()}
    peaks = {name: m.peaks for name, m in measures.items()}
    ops = list(results["forge"])
    print(
        f"\nrepository: {commits} commits, {pack_mb:.1f} MB packed; median of {runs} runs; "
        "ratio = forge / http-backend; peak memory from one more run\n"
    )
    header = (
        f"| {'operation':<18} | {'forge s':>8} | {'http-backend s':>14} | {'daemon s':>8} | "
        f"{'ratio':>5} | {'forge CPU s':>11} | {'backend CPU s':>13} | {'CPU ratio':>9} | "
        f"{'forge peak MB':>13} | {'backend peak MB':>15} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for op in ops:
        f, b, d = results["forge"][op], results["http-backend"][op], results["git-daemon"][op]
        fw, bw, dw = median(f, "wall"), median(b, "wall"), median(d, "wall")
        fc, bc = median(f, "cpu"), median(b, "cpu")
        print(
            f"| {op:<18} | {fw:8.3f} | {bw:14.3f} | {dw:8.3f} | {fw / bw:5.2f} | {fc:11.3f} | "
            f"{bc:13.3f} | {f'{fc / bc:.2f}' if bc else 'n/a':>9} | "
            f"{peaks['forge'][op]:13.0f} | {peaks['http-backend'][op]:15.0f} |"
        )


if __name__ == "__main__":
    main()
