"""CI: `.forge/ci.yml` jobs run by a real rq worker in bubblewrap, after real git pushes."""

from __future__ import annotations

import contextlib
import os
import signal

from conftest import form_post, wait_for
from sqlalchemy import select
from support.ci import (
    jobs_of,
    log_of,
    log_so_far,
    push_ci,
    sleeping,
    start_worker,
    statuses_of,
    stop,
    upload,
    work,
)

from forge.models import CiRun
from forge.queue import connect

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
    run: "%(leftover)s & echo left one behind"
"""


def test_faults_end_the_job_with_a_reason_and_the_worker_lives_on(
    ci, git, hosted_repo, tmp_path, database, settings, live_server
):
    repo = hosted_repo()
    port = live_server.rsplit(":", 1)[1]
    sha = push_ci(
        git, repo, tmp_path, FAULTS % {"home": settings.home, "port": port, "leftover": LEFTOVER}
    )
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
    assert jobs["leftover"].reason == f"it left background processes running: {LEFTOVER}"
    assert "left one behind" in log_of(settings, jobs["leftover"]).splitlines()
    assert sleeping(LEFTOVER) == []


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


# Durations of this test process's own (51 s and its pid's digits), so that looking for
# leftover `sleep` processes never finds another run's, such as CI's other suite beside it.
SLEEP_51 = f"sleep 51.{os.getpid()}"
LEFTOVER = f"sleep 987.{os.getpid()}"
SLEEP_52 = f"sleep 52.{os.getpid()}"


def running_with_log(database, settings, sha: str, name: str, text: str):
    def check():
        job = jobs_of(database, sha)[name]
        if job.state != "running":
            return None
        return job if text in (log_so_far(settings, job) or "") else None

    return check


def test_a_killed_worker_s_job_is_ended_by_another_worker_s_reconciler(
    ci, git, hosted_repo, tmp_path, database, settings
):
    """kill -9 of the worker running a job; nobody runs `forge ci reconcile`: the reconciler
    beside the other worker ends the job as errored within a minute, and the job's script
    (left behind in the killed worker's orphaned child) is stopped too."""
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, f"jobs:\n  long:\n    run: echo started; {SLEEP_51}\n")
    workers = [start_worker(ci), start_worker(ci)]
    orphans: list[int] = []
    try:
        job = wait_for(
            running_with_log(database, settings, sha, "long", "started"),
            timeout=60,
            what="the job to start",
        )
        worker_pid = int(job.runner.split(":")[1])
        victim = next(w for w in workers if w.pid == worker_pid)
        # rq's scheduler (a fork of the worker) outlives a kill -9 of it: ours to clean up.
        orphans = children_of(victim.pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        job = wait_for(
            lambda: (j := jobs_of(database, sha)["long"]).state != "running" and j,
            timeout=60,
            what="a reconciler to end the lost job",
        )
        assert job.state == "errored"
        assert job.reason == f"the worker running it stopped (process {worker_pid} is gone)"
        assert statuses_of(database, sha)["ci/long"].state == "error"
        wait_for(lambda: sleeping(SLEEP_51) == [], timeout=30, what="the script to stop")
    finally:
        stop(*workers)
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_jobs_queued_before_redis_lost_them_still_run(
    ci, git, hosted_repo, tmp_path, database, settings
):
    from forge.jobs import reconcile_ci

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


# --- screening newcomers, patch sets, cancel and re-run ---------------------------------------


def test_a_newcomers_jobs_wait_for_approval_and_a_collaborators_run_at_once(
    ci_project, git, tmp_path, database, settings, app, login
):
    bob_sha = upload(git, ci_project.bob_url, tmp_path / "bob", "from bob")
    carol_sha = upload(git, ci_project.carol_url, tmp_path / "carol", "from carol")
    assert jobs_of(database, bob_sha)["test"].state == "waiting"
    assert statuses_of(database, bob_sha)["ci/test"].description == "Waiting for approval"
    assert jobs_of(database, carol_sha)["test"].state == "queued"

    work(settings)
    assert jobs_of(database, ci_project.main_sha)["test"].state == "passed"
    assert jobs_of(database, carol_sha)["test"].state == "passed"
    assert jobs_of(database, bob_sha)["test"].state == "waiting"  # the worker ran none of his

    run_id = jobs_of(database, bob_sha)["test"].run_id
    page = f"/alice/project/actions/runs/{run_id}"
    approve = page + "/approve"
    # bob may not approve his own jobs: he has no write access (a public repository: 403).
    bob = login("bob", test_client=app.test_client())
    assert "Approve and run" not in bob.get(page).get_data(as_text=True)
    assert form_post(bob, page, approve, {}).status_code == 403
    assert jobs_of(database, bob_sha)["test"].state == "waiting"

    alice = login("alice", test_client=app.test_client())
    assert "Approve and run" in alice.get(page).get_data(as_text=True)
    answer = form_post(alice, page, approve, {}, follow_redirects=True)
    assert answer.status_code == 200
    assert "Approved: the jobs are queued." in answer.get_data(as_text=True)
    job = jobs_of(database, bob_sha)["test"]
    assert job.state == "queued" and job.reason == "approved by alice"
    work(settings)
    job = jobs_of(database, bob_sha)["test"]
    assert job.state == "passed" and f"tested {bob_sha}" in log_of(settings, job)
    assert statuses_of(database, bob_sha)["ci/test"].state == "success"
    # Approving twice is refused with a reason, and changes nothing.
    again = form_post(alice, page, approve, {}, follow_redirects=True)
    assert "this run is not waiting for approval" in again.get_data(as_text=True)


def test_a_newer_patch_set_cancels_the_older_ones_pending_jobs(ci_project, git, tmp_path, database):
    first = upload(git, ci_project.bob_url, tmp_path / "bob", "one", topic="t")
    second = upload(git, ci_project.bob_url, tmp_path / "bob", "two", topic="t")
    old = jobs_of(database, first)["test"]
    assert old.state == "cancelled" and old.reason == "a newer patch set superseded it"
    assert statuses_of(database, first)["ci/test"].state == "error"
    assert jobs_of(database, second)["test"].state == "waiting"


def test_cancel_kills_the_running_job(ci, git, hosted_repo, tmp_path, database, settings, github):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, f"jobs:\n  long:\n    run: echo started; {SLEEP_52}\n")
    worker = start_worker(ci, "--burst")
    try:
        wait_for(running_with_log(database, settings, sha, "long", "started"), timeout=60)
        run = github(repo.token).get_repo("alice/project").get_workflow_runs()[0]
        assert run.status == "in_progress"
        assert run.cancel() is True
        worker.wait(timeout=60)  # the burst worker ends once the killed job is done
    finally:
        stop(worker)
    job = jobs_of(database, sha)["long"]
    assert job.state == "cancelled" and job.reason == "cancelled by alice"
    # What the job printed, then forge's note last (a sandbox may add lines of its own).
    lines = log_of(settings, job).splitlines()
    assert "started" in lines and lines[-1] == "[forge: cancelled]"
    assert statuses_of(database, sha)["ci/long"].state == "error"
    assert sleeping(SLEEP_52) == []
    run = github(repo.token).get_repo("alice/project").get_workflow_run(job.run_id)
    assert (run.status, run.conclusion) == ("completed", "cancelled")


def test_rerun_is_a_new_attempt_with_a_new_log(
    ci, git, hosted_repo, tmp_path, database, settings, github
):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo run at $(date +%s%N)\n")
    work(settings)
    first = jobs_of(database, sha)["test"]
    run = github(repo.token).get_repo("alice/project").get_workflow_run(first.run_id)
    assert (run.run_attempt, run.conclusion) == (1, "success")
    assert run.rerun() is True
    queued = jobs_of(database, sha)["test"]
    assert (queued.state, queued.attempt, queued.reason) == ("queued", 2, "re-run by alice")
    work(settings)
    second = jobs_of(database, sha)["test"]
    assert (second.state, second.attempt) == ("passed", 2)
    assert log_of(settings, first) != log_of(settings, second)  # both kept, each its own
    run = github(repo.token).get_repo("alice/project").get_workflow_run(first.run_id)
    assert (run.run_attempt, run.status, run.conclusion) == (2, "completed", "success")
