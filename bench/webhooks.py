"""Benchmark: webhook deliveries from real pushes, push to receipt.

forge runs as `forge serve` runs it (gunicorn 2 x 8 threads, the embedded Redis, SQLite) with
two `forge worker --queues hooks` processes; a repository has 3 hooks (events: push, JSON,
signed) to 3 receivers in this process on 127.0.0.1. The real `git` client then pushes one new
commit at a time, --pushes times. Measured, for each of the 3 x N deliveries:

  latency   from the `git push` command returning to the receiver reading the request (a
            delivery can arrive before git has exited: that counts as 0)
  rate      deliveries per second while pushing (bounded by how fast one client pushes), and
            the workers' capacity: --backlog pushes are made while both workers are stopped
            (SIGSTOP), then the workers resume and the time until the last of the 3 x backlog
            deliveries arrives gives deliveries/s.

    python bench/webhooks.py [--pushes 1000] [--backlog 300] [--keep]

The issue's target: p95 latency under 1 s with 2 workers. Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from forge_bench import FORGE, GIT_ENV, create_home, free_port, start_web, stop

HOOKS = 3
WORKERS = 2


class Receipts:
    """When each (receiver, pushed sha) arrived, by this process's monotonic clock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[tuple[int, str], float] = {}
        self.changed = threading.Condition(self.lock)

    def record(self, receiver: int, sha: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.arrived.setdefault((receiver, sha), now)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.arrived) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True


def start_receiver(number: int, receipts: Receipts) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("X-GitHub-Event") == "push":
                receipts.record(number, json.loads(body)["after"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def api(base: str, token: str, method: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v3{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


def git(*args, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def push_one(work: Path, number: int) -> tuple[str, float, float]:
    """Commit and push; (sha, push started, push returned)."""
    git("commit", "-q", "--allow-empty", "-m", f"push {number}", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work)
    started = time.monotonic()
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return sha, started, time.monotonic()


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it waited for (rq's work horses)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook deliveries, push to receipt")
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="forge-bench-hooks-"))
    receipts = Receipts()
    receivers = [start_receiver(n, receipts) for n in range(HOOKS)]
    forge = create_home(root)
    env = {**forge.env, "FORGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    port = free_port()
    web = workers = None
    try:
        web = start_web(env, port)
        workers = [
            subprocess.Popen(
                [*FORGE, "worker", "--queues", "hooks"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(WORKERS)
        ]
        base = f"http://127.0.0.1:{port}"
        api(base, forge.token, "POST", "/user/repos", {"name": "hooked"})
        for server in receivers:
            url = f"http://127.0.0.1:{server.server_port}/hook"
            config = {"url": url, "content_type": "json", "secret": "bench-secret"}
            api(base, forge.token, "POST", "/repos/bench/hooked/hooks",
                {"name": "web", "config": config, "events": ["push"]})  # fmt: skip

        work = root / "work"
        git("init", "-q", "-b", "main", str(work), cwd=root)
        remote = f"http://bench:{forge.token}@127.0.0.1:{port}/bench/hooked.git"
        git("remote", "add", "origin", remote, cwd=work)
        push_one(work, 0)  # creates main (and warms everything up)
        if not receipts.wait_for(HOOKS, 60):
            raise SystemExit("the warm-up push's deliveries did not arrive")

        # Phase 1: pushes one after another, the workers delivering meanwhile.
        pushed = []
        began = time.monotonic()
        for number in range(1, args.pushes + 1):
            pushed.append(push_one(work, number))
            if number % 100 == 0:
                print(f"  {number} pushes", file=sys.stderr)
        expected = HOOKS * (args.pushes + 1)
        if not receipts.wait_for(expected, 300):
            print(f"only {len(receipts.arrived)} of {expected} deliveries arrived", file=sys.stderr)
        last = max(receipts.arrived.values())
        latencies = [
            max(0.0, receipts.arrived[(n, sha)] - returned)
            for sha, _started, returned in pushed
            for n in range(HOOKS)
            if (n, sha) in receipts.arrived
        ]
        push_times = [returned - started for _sha, started, returned in pushed]
        rate_pushing = len(latencies) / (last - began)

        # Phase 2: a backlog made while the workers are stopped, then drained by both.
        for process in workers:
            os.kill(process.pid, signal.SIGSTOP)
        backlog = [push_one(work, args.pushes + 1 + n) for n in range(args.backlog)]
        resumed = time.monotonic()
        cpu_before = sum(cpu_seconds(p.pid) for p in workers)
        for process in workers:
            os.kill(process.pid, signal.SIGCONT)
        expected += HOOKS * args.backlog
        drained = receipts.wait_for(expected, 600)
        drain_end = max(receipts.arrived[(n, sha)] for sha, *_ in backlog for n in range(HOOKS)
                        if (n, sha) in receipts.arrived)  # fmt: skip
        drain_count = sum((n, sha) in receipts.arrived for sha, *_ in backlog for n in range(HOOKS))
        capacity = drain_count / (drain_end - resumed)
        cpu_per_delivery = (sum(cpu_seconds(p.pid) for p in workers) - cpu_before) / drain_count

        print()
        print(f"{args.pushes} pushes x {HOOKS} hooks, {WORKERS} hook workers (2 cores, loopback)")
        print()
        print("| measure                                   |      value |")
        print("|-------------------------------------------|------------|")
        print(f"| deliveries received (pushes)              | {len(latencies):>10} |")
        p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
        print(f"| latency p50, push return -> receipt       | {p50:>8.3f} s |")
        print(f"| latency p95                               | {p95:>8.3f} s |")
        print(f"| latency max                               | {max(latencies):>8.3f} s |")
        push_p50 = statistics.median(push_times)
        print(f"| git push p50 (3 hooks each)               | {push_p50:>8.3f} s |")
        print(f"| delivery rate while pushing               | {rate_pushing:>6.1f} /s   |")
        label = f"backlog of {args.backlog} pushes: deliveries"
        print(f"| {label:<41} | {drain_count:>10} |")
        print(f"| workers' capacity draining the backlog    | {capacity:>6.1f} /s   |")
        print(f"| worker CPU per delivery (backlog)         | {cpu_per_delivery * 1000:>7.1f} ms |")
        if not drained:
            print("(the backlog did not drain within 600 s)")
    finally:
        if workers:
            for process in workers:
                os.kill(process.pid, signal.SIGCONT)
                stop(process)
        stop(web)
        forge.stop()
        for server in receivers:
            server.shutdown()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
