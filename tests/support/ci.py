"""CI as the tests drive it: the `ci` fixture (the worker's environment with small limits),
the `ci_project` fixture (a project with a CI file, a collaborator and a stranger), and helpers
that push CI files, run real rq workers (in-process or as `forge worker` processes) and read
back runs, jobs, logs and commit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import authed
from sqlalchemy import select

from forge.models import CiJob, CiRun, CommitStatus
from forge.worker import run_worker

# One job that prints the commit it tested: what `ci_project` has on main.
SIMPLE = "jobs:\n  test:\n    run: echo tested $CI_COMMIT_SHA\n"


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


@pytest.fixture
def ci_project(ci, git, hosted_repo, tmp_path, make_user, make_token, database):
    """alice's public project with a CI file on main; carol may write, bob is a stranger."""
    from forge.accounts import users as accounts
    from forge.repos import repositories as repo_service

    repo = hosted_repo()
    repo.main_sha = push_ci(git, repo, tmp_path, SIMPLE)
    for name in ("bob", "carol"):
        make_user(name)
        setattr(repo, f"{name}_url", authed(repo.url, name, make_token(name)))
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repo_service.get_repository(session, "alice", "project", alice)
        repo_service.set_collaborator(session, project, alice, "carol", "write")
    return repo


def work(settings, queues=("default", "ci")) -> None:
    """A real rq worker until the queues are empty: CI jobs, and the merge queue's steps
    (follow-up jobs included)."""
    run_worker(settings.redis_url, list(queues), burst=True)


def push_ci(git, repo, tmp_path, ci_yml: str, files: dict | None = None) -> str:
    """Commit `ci_yml` as .forge/ci.yml (with `files`) in tmp_path/work and push it to main."""
    work_dir = tmp_path / "work"
    if not work_dir.exists():
        git.init(work_dir, {"README.md": "# project\n", ".forge/ci.yml": ci_yml, **(files or {})})
    else:
        git.commit(work_dir, {".forge/ci.yml": ci_yml, **(files or {})}, "change ci")
    git.run("push", repo.push_url, "HEAD:main", cwd=work_dir)
    return git.head(work_dir)


def upload(git, url: str, clone: Path, content: str, topic: str | None = None) -> str:
    """Clone (once), commit and push HEAD:refs/for/main: a change request, Gerrit-style. With
    a topic, a second upload amends the commit (keeping its Change-Id): a new patch set."""
    again = clone.exists() and topic is not None
    if not clone.exists():
        git.run("clone", "-q", url, str(clone))
        git.install_change_id_hook(clone)
    if again:
        (clone / "app.txt").write_text(content)
        git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=clone)
        sha = git.head(clone)
    else:
        sha = git.commit(clone, {"app.txt": content}, f"change {content}")
    options = ["-o", f"topic={topic}"] if topic else []
    git.run("push", *options, url, "HEAD:refs/for/main", cwd=clone)
    return sha


def jobs_of(database, sha: str) -> dict[str, CiJob]:
    """The jobs of the newest run for `sha`, by name."""
    with database.session() as session:
        run = session.scalar(select(CiRun).where(CiRun.sha == sha).order_by(CiRun.id.desc()))
        assert run is not None, "no run for the commit"
        return {job.name: job for job in run.jobs}


def log_of(settings, job: CiJob) -> str:
    text = log_so_far(settings, job)
    assert text is not None, f"no log for job {job.name}"
    return text


def log_so_far(settings, job: CiJob) -> str | None:
    """The job's log as written so far, or None before the runner has opened it: a job is
    marked running a moment before its log file exists."""
    matches = list((settings.logs_dir / "ci").rglob(f"{job.id}.{job.attempt}.log"))
    return matches[0].read_text(errors="replace") if matches else None


def statuses_of(database, sha: str) -> dict[str, CommitStatus]:
    """The latest commit status of each context for `sha`."""
    with database.session() as session:
        rows = session.scalars(select(CommitStatus).where(CommitStatus.sha == sha)).all()
    latest = {}
    for row in sorted(rows, key=lambda r: r.id):
        latest[row.context] = row
    return latest


def start_worker(ci_env: dict, *args: str) -> subprocess.Popen:
    """`forge worker --queues ci` as a process of its own, as an admin starts one."""
    return subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "worker", "--queues", "ci", *args],
        env={**os.environ, **ci_env},
        stdin=subprocess.DEVNULL,
    )


def stop(*workers: subprocess.Popen) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def cmdline(pid: str) -> str:
    """A process's command line, words joined by spaces ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def sleeping(command: str) -> list[str]:
    """The processes whose command line is exactly `command`."""
    return [p for p in os.listdir("/proc") if p.isdigit() and cmdline(p) == command]
