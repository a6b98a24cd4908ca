"""CI: `.forge/ci.yml` jobs run by a real rq worker in bubblewrap, after real git pushes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import wait_for
from sqlalchemy import select

from forge.models import CiJob, CiRun, CommitStatus
from forge.queue import connect
from forge.queue.worker import run_worker


@pytest.fixture
def ci(settings, monkeypatch):
    """The worker's environment (jobs read their settings from it) with small CI limits."""
    env = {
        "FORGE_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "FORGE_CI_LOG_LIMIT": "65536",
        "FORGE_CI_MAX_TIMEOUT": "60",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def work(settings) -> None:
    """A real rq worker on the `ci` queue until it is empty."""
    run_worker(settings.redis_url, ["ci"], burst=True)


def push_ci(git, repo, tmp_path, ci_yml: str, files: dict | None = None) -> str:
    work_dir = tmp_path / "work"
    if not work_dir.exists():
        git.init(work_dir, {"README.md": "# project\n", ".forge/ci.yml": ci_yml, **(files or {})})
    else:
        git.commit(work_dir, {".forge/ci.yml": ci_yml, **(files or {})}, "change ci")
    git.run("push", repo.push_url, "HEAD:main", cwd=work_dir)
    return git.head(work_dir)


def jobs_of(database, sha: str) -> dict[str, CiJob]:
    with database.session() as session:
        run = session.scalar(select(CiRun).where(CiRun.sha == sha).order_by(CiRun.id.desc()))
        assert run is not None, "no run for the commit"
        return {job.name: job for job in run.jobs}


def log_of(settings, job: CiJob) -> str:
    matches = list((settings.logs_dir / "ci").rglob(f"{job.id}.{job.attempt}.log"))
    assert matches, f"no log for job {job.name}"
    return matches[0].read_text(errors="replace")


def statuses_of(database, sha: str) -> dict[str, CommitStatus]:
    with database.session() as session:
        rows = session.scalars(select(CommitStatus).where(CommitStatus.sha == sha)).all()
    latest = {}
    for row in sorted(rows, key=lambda r: r.id):
        latest[row.context] = row
    return latest


BUILD_AND_TEST = (
    "jobs:\n"
    "  build:\n"
    "    run: |\n"
    "      echo building $GREETING\n"
    "      ./tool.sh\n"
    "    env: {GREETING: hello}\n"
    "  test:\n"
    "    run: test ! -e out.txt && echo fresh workspace\n"
    "    needs: [build]\n"
)


def test_push_runs_jobs_in_order_and_sets_statuses(
    ci, git, hosted_repo, tmp_path, database, settings, live_server
):
    repo = hosted_repo()
    work_dir = tmp_path / "work"
    git.init(work_dir, {".forge/ci.yml": BUILD_AND_TEST})
    (work_dir / "tool.sh").write_text("#!/bin/sh\necho tool ran > out.txt\necho tool ran\n")
    os.chmod(work_dir / "tool.sh", 0o755)
    sha = git.commit(work_dir, {}, "add the tool")
    git.run("push", repo.push_url, "main", cwd=work_dir)
    git.run("push", repo.push_url, "main:copy", cwd=work_dir)  # the same commit: no second run
    git.run("tag", "v1", cwd=work_dir)
    git.run("push", repo.push_url, "v1", cwd=work_dir)  # tags run nothing

    work(settings)

    with database.session() as session:
        assert session.scalars(select(CiRun)).all().__len__() == 1
    jobs = jobs_of(database, sha)
    assert {name: job.state for name, job in jobs.items()} == {"build": "passed", "test": "passed"}
    assert "building hello\ntool ran\n" in log_of(settings, jobs["build"])
    assert "fresh workspace" in log_of(settings, jobs["test"])
    statuses = statuses_of(database, sha)
    assert statuses["ci/build"].state == "success" and statuses["ci/test"].state == "success"
    run_id = jobs["build"].run_id
    assert statuses["ci/build"].target_url == f"{live_server}/alice/project/actions/runs/{run_id}"


FAULTS = """jobs:
  forkbomb:
    # A pipeline of itself, in the foreground: it forks until the process limit refuses,
    # and ends failing or timed out, never passing. (The classic `:|:&` form backgrounds
    # the bomb, so the script's own result depended on whether a command after it found a
    # free process slot: a flaky test.)
    run: "bomb() { bomb | bomb; }; bomb"
    timeout: 8
    limits: {processes: 30}
  disk:
    run: dd if=/dev/zero of=big bs=1M count=20
    limits: {file_mb: 1}
  memory:
    run: python3 -c "x = bytearray(3 * 1024**3)"
    limits: {memory_mb: 256}
  chatty:
    run: yes forge is talking
  sleepy:
    run: sleep 60
    timeout: 2
  read_home:
    run: ls "$HIDDEN"/repos
    env: {HIDDEN: "%(home)s"}
  reach_redis:
    run: exec 3<>/dev/tcp/127.0.0.1/6379
  reach_forge:
    run: exec 3<>/dev/tcp/127.0.0.1/$PORT
    env: {PORT: "%(port)s"}
  leftover:
    run: "sleep 987 & echo left one behind"
"""


def test_faults_end_the_job_with_a_reason_and_the_worker_lives_on(
    ci, git, hosted_repo, tmp_path, database, settings, live_server
):
    repo = hosted_repo()
    port = live_server.rsplit(":", 1)[1]
    sha = push_ci(git, repo, tmp_path, FAULTS % {"home": settings.home, "port": port})
    work(settings)
    jobs = jobs_of(database, sha)
    states = {name: job.state for name, job in jobs.items()}
    assert states["forkbomb"] in ("failed", "timed_out")
    assert "fork" in log_of(settings, jobs["forkbomb"]).lower()
    assert states["disk"] == "failed"
    assert "file size limit" in jobs["disk"].reason
    assert states["memory"] == "failed"
    assert "MemoryError" in log_of(settings, jobs["memory"])
    assert states["chatty"] == "failed" and "log limit" in jobs["chatty"].reason
    chatty_log = log_of(settings, jobs["chatty"])
    assert len(chatty_log) < 65536 + 200 and chatty_log.endswith("job stopped]\n")
    assert states["sleepy"] == "timed_out" and "timeout of 2 s" in jobs["sleepy"].reason
    # $FORGE_HOME is an empty directory in the sandbox: the read fails, and says so.
    assert states["read_home"] == "failed" and "exited with code" in jobs["read_home"].reason
    assert "No such file or directory" in log_of(settings, jobs["read_home"])
    # A network of its own (only its own loopback): neither Redis's usual port nor the
    # forge's, which is listening on the machine's loopback, answers.
    for name in ("reach_redis", "reach_forge"):
        assert states[name] == "failed", log_of(settings, jobs[name])
        assert "Connection refused" in log_of(settings, jobs[name])
    assert states["leftover"] == "failed"
    assert jobs["leftover"].reason == "it left background processes running: sleep 987"
    assert log_of(settings, jobs["leftover"]).startswith("left one behind\n")
    still_running = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep 987"]
    assert still_running == []


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_malformed_file_errors_with_line_and_field(ci, git, hosted_repo, tmp_path, database):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: make\n    timeout: soon\n")
    with database.session() as session:
        run = session.scalar(select(CiRun).where(CiRun.sha == sha))
        assert run.state == "errored" and run.jobs == []
        assert (
            run.reason
            == ".forge/ci.yml, line 4: jobs.test.timeout: must be a whole number of at least 1"
        )
    assert statuses_of(database, sha)["ci"].state == "error"
    assert "line 4: jobs.test.timeout" in statuses_of(database, sha)["ci"].description


def test_a_killed_worker_ends_its_job_as_errored_after_reconcile(
    ci, git, hosted_repo, tmp_path, database, settings
):
    from forge.queue.jobs import reconcile_ci

    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  long:\n    run: echo started; sleep 50\n")
    worker = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "worker", "--burst", "--queues", "ci"],
        env={**os.environ, **ci},
    )
    try:
        wait_for(
            lambda: (
                (j := jobs_of(database, sha)["long"]).state == "running"
                and "started" in log_of(settings, j)
            ),
            timeout=60,
            what="the job to start",
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert reconcile_ci() == [jobs_of(database, sha)["long"].id]
    job = jobs_of(database, sha)["long"]
    assert job.state == "errored" and "worker running it stopped" in job.reason
    assert statuses_of(database, sha)["ci/long"].state == "error"


def test_jobs_queued_before_redis_lost_them_still_run(
    ci, git, hosted_repo, tmp_path, database, settings
):
    from forge.queue.jobs import reconcile_ci

    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo ran\n")
    connect(settings.redis_url).flushdb()  # Redis restarted empty
    work(settings)
    assert jobs_of(database, sha)["test"].state == "queued"
    reconcile_ci()
    work(settings)
    assert jobs_of(database, sha)["test"].state == "passed"


def test_without_bwrap_jobs_are_refused_unless_the_admin_allows(
    ci, git, hosted_repo, tmp_path, database, settings, monkeypatch
):
    monkeypatch.setenv("FORGE_CI_BWRAP", "/nonexistent/bwrap")
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo ran\n")
    work(settings)
    job = jobs_of(database, sha)["test"]
    assert job.state == "errored" and "FORGE_CI_UNSANDBOXED=1" in job.reason
    assert "forge refuses to run CI jobs" in log_of(settings, job)
