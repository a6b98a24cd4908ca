"""CI: `.forge/ci.yml` jobs run by a real rq worker in bubblewrap, after real git pushes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

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
