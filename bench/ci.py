"""Benchmark: CI jobs from real pushes, on the embedded default (SQLite, the embedded Redis).

forge runs as `forge serve` runs it: gunicorn 2 x 8 threads and one `forge worker` (every
queue, with the CI reconciler beside it). Two measurements:

  first log line  the real `git` client pushes one new commit at a time (--pushes times) to a
                  repository whose `.forge/ci.yml` has one job, `echo started`; measured from
                  the `git push` command returning to the job's log file holding its first
                  line (polled every 2 ms); the run is left to finish before the next push.
  throughput      one push of a `.forge/ci.yml` with --jobs trivial jobs (`true`), run by
                  --workers `forge worker --queues ci` processes: wall time from the push to
                  the last job's end, jobs per second, and each job's own time in the worker
                  (started_at to finished_at in the database: checkout, sandbox, script and
                  the database writes around them). The two costs inside it, a dulwich
                  checkout of the commit and starting bubblewrap for `true`, are also timed
                  alone in this process, the way the worker calls them.

    python bench/ci.py [--pushes 50] [--jobs 200] [--workers 2] [--keep]

The issue's targets: first log line under 1 s p50; overhead per job under 0.5 s. Run by hand;
nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from forge_bench import FORGE, GIT_ENV, create_home, free_port, start_web, stop

FINISHED = ("passed", "failed", "errored", "cancelled", "timed_out")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def api(port: int, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v3{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Forge:
    """A forge home with the web server and a repository "bench/NAME" cloned locally."""

    def __init__(self, root: Path):
        self.root = root
        self.home = create_home(root)
        self.port = free_port()
        self.web = start_web(self.home.env, self.port)
        self.workers: list[subprocess.Popen] = []
        os.environ.update({k: v for k, v in self.home.env.items() if k.startswith(("FORGE", "RE"))})
        from forge.config import Settings
        from forge.db import Database

        self.settings = Settings.from_env()
        self.database = Database(self.settings.database_url)

    def start_workers(self, count: int, queues: str) -> None:
        for number in range(count):
            args = ["worker", "--queues", queues] + (["--no-reconcile"] if number else [])
            log = open(self.root / f"worker-{queues}-{number}.log", "ab")  # noqa: SIM115
            self.workers.append(
                subprocess.Popen(
                    [*FORGE, *args], env=self.home.env, stdout=log, stderr=subprocess.STDOUT
                )
            )

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop(worker)
        self.workers = []

    def repository(self, name: str, ci_yml: str) -> Path:
        api(self.port, self.home.token, "POST", "/user/repos", {"name": name})
        work = self.root / name
        work.mkdir()
        git("init", "-q", "-b", "main", cwd=work)
        (work / ".forge").mkdir()
        (work / ".forge" / "ci.yml").write_text(ci_yml)
        (work / "counter.txt").write_text("0\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "first", cwd=work)
        url = f"http://bench:{self.home.token}@127.0.0.1:{self.port}/bench/{name}.git"
        git("remote", "add", "origin", url, cwd=work)
        return work

    def commit(self, work: Path, number: int) -> str:
        (work / "counter.txt").write_text(f"{number}\n")
        git("commit", "-q", "-am", f"commit {number}", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def jobs_of(self, sha: str):
        from sqlalchemy import select

        from forge.models import CiJob, CiRun

        with self.database.session() as session:
            query = select(CiJob).join(CiRun).where(CiRun.sha == sha)
            jobs = session.scalars(query).all()
            for job in jobs:
                session.expunge(job)
            return jobs

    def log_file(self, job) -> Path:
        run_dir = self.settings.logs_dir / "ci"
        matches = list(run_dir.glob(f"*/{job.run_id}/{job.id}.{job.attempt}.log"))
        return matches[0] if matches else run_dir / "missing"

    def close(self) -> None:
        self.stop_workers()
        stop(self.web)
        self.database.dispose()
        self.home.stop()


def wait(predicate, timeout: float, interval: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def first_log_line(forge: Forge, pushes: int) -> list[float]:
    work = forge.repository("latency", "jobs:\n  echo:\n    run: echo started\n")
    git("push", "-q", "origin", "main", cwd=work)
    forge.start_workers(1, "default,hooks,ci")
    first = git("rev-parse", "HEAD", cwd=work)
    wait(lambda: all(j.state in FINISHED for j in forge.jobs_of(first) or [None]) and
         forge.jobs_of(first), 120, 0.05, "the warm-up run")  # fmt: skip
    latencies = []
    for number in range(1, pushes + 1):
        sha = forge.commit(work, number)
        git("push", "-q", "origin", "main", cwd=work)
        pushed = time.monotonic()
        (job,) = wait(lambda: forge.jobs_of(sha), 30, 0.002, "the run")  # noqa: B023

        def has_a_line(job=job) -> bool:
            path = forge.log_file(job)
            return path.exists() and path.stat().st_size > 0

        wait(has_a_line, 60, 0.002, "the first log line")
        latencies.append(time.monotonic() - pushed)
        wait(lambda: forge.jobs_of(sha)[0].state in FINISHED, 60, 0.02, "the end")  # noqa: B023
    forge.stop_workers()
    return latencies


def throughput(forge: Forge, jobs: int, workers: int) -> dict:
    ci_yml = "jobs:\n" + "".join(f'  j{n:03d}:\n    run: "true"\n' for n in range(jobs))
    work = forge.repository("throughput", ci_yml)
    forge.start_workers(workers, "ci")
    time.sleep(3)  # let the workers start before the clock does
    started = time.monotonic()
    git("push", "-q", "origin", "main", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work)
    done = wait(
        lambda: (js := forge.jobs_of(sha)) and all(j.state in FINISHED for j in js) and js,
        900,
        0.1,
        "every job",
    )
    wall = time.monotonic() - started
    forge.stop_workers()
    own = [(j.finished_at - j.started_at).total_seconds() for j in done]
    states = {j.state for j in done}
    return {"wall": wall, "own": own, "states": states}


def components(forge: Forge, work: Path, rounds: int = 20) -> dict:
    """A checkout of the pushed commit and bubblewrap running `true`, each timed alone."""
    from forge.ci import sandbox as ci_sandbox
    from forge.git.checkout import checkout

    repo_path = next(forge.settings.repos_dir.rglob("throughput.git"))
    sha = git("rev-parse", "HEAD", cwd=work)
    bwrap = ci_sandbox.find_bwrap(forge.settings.ci.bwrap)
    checkouts, sandboxes = [], []
    for number in range(rounds):
        workspace = forge.settings.workspaces_dir / f"bench-{number}"
        shutil.rmtree(workspace, ignore_errors=True)
        begin = time.perf_counter()
        checkout(repo_path, sha, workspace)
        checkouts.append(time.perf_counter() - begin)
        sandbox = ci_sandbox.Sandbox(
            workspace=workspace, hidden=[forge.settings.home], timeout=60, memory_mb=2048,
            processes=256, file_mb=1024, log_limit=1 << 20, bwrap=bwrap,
        )  # fmt: skip
        log = forge.root / "bench-sandbox.log"
        begin = time.perf_counter()
        outcome = ci_sandbox.run_script("true", {}, sandbox, log, lambda: False, 0.01)
        sandboxes.append(time.perf_counter() - begin)
        assert outcome.state == "passed", outcome
        shutil.rmtree(workspace, ignore_errors=True)
    return {"checkout": checkouts, "sandbox": sandboxes, "bwrap": bool(bwrap)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="forge-bench-ci-"))
    forge = Forge(root)
    try:
        latencies = first_log_line(forge, args.pushes)
        result = throughput(forge, args.jobs, args.workers)
        parts = components(forge, root / "throughput")
    finally:
        forge.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)

    own = result["own"]
    print(f"\nCI on the embedded default ({os.cpu_count()} cores), bubblewrap: {parts['bwrap']}\n")
    print("| measure | p50 s | p95 s | max s | n |")
    print("|---|---|---|---|---|")
    rows = [
        ("push returned -> first log line", latencies),
        ("job in the worker (started -> finished)", own),
        ("  checkout alone (dulwich)", parts["checkout"]),
        ("  sandbox alone (bwrap, `true`)", parts["sandbox"]),
    ]
    for label, values in rows:
        print(
            f"| {label} | {statistics.median(values):.3f} | {percentile(values, 0.95):.3f} "
            f"| {max(values):.3f} | {len(values)} |"
        )
    jobs = len(own)
    print(
        f"\n{jobs} trivial jobs with {args.workers} workers: {result['wall']:.1f} s wall, "
        f"{jobs / result['wall']:.1f} jobs/s, {result['wall'] * args.workers / jobs:.3f} "
        f"worker-seconds per job; states: {', '.join(sorted(result['states']))}"
    )


if __name__ == "__main__":
    main()
