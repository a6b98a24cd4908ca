"""The merge queue's overhead beyond the CI run itself, per change.

Starts forge as `bench/forge_bench.py` does (gunicorn, embedded Redis, SQLite) plus one
`forge worker` for the `default` and `ci` queues, pushes a repository whose `.forge/ci.yml`
runs one trivial job (`echo ok`, in bubblewrap), opens N changes that each add a file, and
enables auto-merge on all of them at once (the quality gate is off, so each is submittable
and enters the queue straight away). The queue then builds N speculative merges, CI tests
each, and the branch moves N times.

Measured per change, from the rows forge wrote (entry, CI run and job, push record):

- enqueue -> CI run requested: the speculative merge built and its run asked for;
- CI run requested -> job started: CI's own dispatch (shown, not counted as the queue's);
- the job itself (shown, not counted);
- CI finished -> branch moved: from the later of "its run passed" and "the change ahead of
  it landed" (before that it must wait, whatever the queue's speed) to the push record of
  the fast-forward.

The queue's overhead is the first plus the last; the target is under 2 s a change.

    python bench/merge_queue.py [--changes 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forge_bench import FORGE, create_home, free_port, start_web, stop  # noqa: E402

CI_YML = "jobs:\n  test:\n    run: echo ok\n"


def git(*args, cwd=None, env=None):
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forge-bench-mq-") as tmp:
        run(Path(tmp), args.changes)


def run(root: Path, count: int) -> None:
    home = create_home(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = worker = None
    try:
        web = start_web(home.env, port)
        worker = subprocess.Popen(
            [*FORGE, "worker", "--queues", "default,ci"],
            env=home.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api = requests.Session()
        api.headers["Authorization"] = f"token {home.token}"
        _wait(lambda: _healthy(f"{base}/healthz"), 60, "the web server to answer")
        answer = api.post(f"{base}/api/v3/user/repos", json={"name": "queue"}, timeout=30)
        answer.raise_for_status()
        push_url = f"http://bench:{home.token}@127.0.0.1:{port}/bench/queue.git"
        work = root / "clone"
        env = {
            **os.environ,
            "HOME": str(root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench",
            "GIT_AUTHOR_EMAIL": "bench@example.org",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "bench@example.org",
        }
        git("init", "-q", "-b", "main", str(work), env=env)
        (work / ".forge").mkdir()
        (work / ".forge" / "ci.yml").write_text(CI_YML)
        (work / "README.md").write_text("# queue\n")
        git("add", "-A", cwd=work, env=env)
        git("commit", "-q", "-m", "first", cwd=work, env=env)
        for i in range(1, count + 1):
            git("checkout", "-q", "-b", f"change-{i}", "main", cwd=work, env=env)
            (work / f"file-{i}.txt").write_text(f"change {i}\n")
            git("add", "-A", cwd=work, env=env)
            git("commit", "-q", "-m", f"change {i}", cwd=work, env=env)
        git("checkout", "-q", "main", cwd=work, env=env)
        git("push", "-q", push_url, "--all", cwd=work, env=env)
        numbers = []
        for i in range(1, count + 1):
            answer = api.post(
                f"{base}/api/v3/repos/bench/queue/pulls",
                json={"title": f"change {i}", "head": f"change-{i}", "base": "main"},
                timeout=30,
            )
            answer.raise_for_status()
            numbers.append(answer.json()["number"])
        api.put(
            f"{base}/api/v3/repos/bench/queue/quality-gate", json={"enabled": False}, timeout=30
        ).raise_for_status()
        database = _database(home.home)
        _wait(lambda: _idle(database), 300, "the changes' own CI runs to finish")
        started = time.monotonic()
        for number in numbers:
            api.put(
                f"{base}/api/v3/repos/bench/queue/pulls/{number}/auto-merge",
                json={"merge_method": "merge"},
                timeout=30,
            ).raise_for_status()
        _wait(lambda: _merged(database) == count, 600, f"{count} changes to land")
        wall = time.monotonic() - started
        _report(database, count, wall)
    finally:
        stop(worker)
        stop(web)
        home.stop()


def _database(home: Path):
    from forge.db import Database

    return Database(f"sqlite:///{home / 'forge.db'}")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _idle(database) -> bool:
    from sqlalchemy import func, select

    from forge.models import CiJob

    with database.session() as session:
        busy = session.scalar(
            select(func.count(CiJob.id)).where(CiJob.state.in_(("queued", "running")))
        )
        total = session.scalar(select(func.count(CiJob.id)))
    return total > 0 and busy == 0


def _merged(database) -> int:
    from sqlalchemy import func, select

    from forge.models.quality import MergeQueueEntry

    with database.session() as session:
        return session.scalar(
            select(func.count(MergeQueueEntry.id)).where(MergeQueueEntry.state == "merged")
        )


def _report(database, count: int, wall: float) -> None:
    from sqlalchemy import select

    from forge.models import CiRun, PushEvent
    from forge.models.quality import MergeQueueEntry

    rows = {name: [] for name in ("enqueue", "dispatch", "job", "land", "overhead")}
    with database.session() as session:
        entries = session.scalars(select(MergeQueueEntry).order_by(MergeQueueEntry.id)).all()
        previous_landed = None
        for entry in entries:
            run = session.get(CiRun, entry.ci_run_id)
            started = min(job.started_at for job in run.jobs)
            finished = max(job.finished_at for job in run.jobs)
            moved = session.scalar(
                select(PushEvent.created_at).where(
                    PushEvent.after == entry.speculative_sha, PushEvent.via == "merge_queue"
                )
            )
            ready = max(finished, previous_landed) if previous_landed else finished
            enqueue = (run.created_at - entry.created_at).total_seconds()
            land = (moved - ready).total_seconds()
            rows["enqueue"].append(enqueue)
            rows["dispatch"].append((started - run.created_at).total_seconds())
            rows["job"].append((finished - started).total_seconds())
            rows["land"].append(land)
            rows["overhead"].append(enqueue + land)
            previous_landed = moved
    labels = {
        "enqueue": "enqueue -> CI run requested",
        "dispatch": "CI run requested -> job started (CI's)",
        "job": "the CI job itself (CI's)",
        "land": "CI finished -> branch moved",
        "overhead": "queue overhead (first + last)",
    }
    print(f"{count} changes through the merge queue in {wall:.1f} s ({wall / count:.2f} s each)")
    print()
    print("| per change                              | median s | p95 s | max s |")
    print("|-----------------------------------------|----------|-------|-------|")
    for key, label in labels.items():
        values = sorted(rows[key])
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"| {label:<39} | {statistics.median(values):8.3f} | {p95:5.3f} | {values[-1]:5.3f} |"
        )
    worst = max(rows["overhead"])
    print()
    print(f"Target: queue overhead under 2 s a change: {'met' if worst < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
