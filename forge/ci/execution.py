"""Running one attempt of a CI job on a worker (`forge.jobs.run_ci_job`): check out the
commit, run the job's script in the sandbox (`forge.ci.sandbox`) within the job's limits and
the admin's caps, beat the heart each second and stop when the job is cancelled, then record
how it ended and dispatch the jobs that needed it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from forge.ci import sandbox as ci_sandbox
from forge.ci.dispatch import QueueOps, dispatch
from forge.ci.results import finish, job_status, log_path, update_run_state
from forge.config import Settings
from forge.db import Database, utcnow
from forge.git.checkout import CheckoutError, checkout
from forge.models import CiJob
from forge.repos.repositories import disk_path

HEARTBEAT_SECONDS = 2
NO_SANDBOX = (
    "bubblewrap (bwrap) is not installed, so forge refuses to run CI jobs; install it, "
    "or set FORGE_CI_UNSANDBOXED=1 to run jobs without a sandbox"
)


def execute(database: Database, settings: Settings, job_id: int, attempt: int, ops: QueueOps):
    """Run one attempt of a job, start to end; every step is written to the database first."""
    with database.session() as session:
        job = session.get(CiJob, job_id)
        if job is None or job.attempt != attempt or job.state != "queued":
            return None  # cancelled, re-run or done meanwhile: nothing to do
        repo = job.run.repository
        repo_path = disk_path(settings.repos_dir, repo)
        definition = json.loads(job.definition)
        bwrap = ci_sandbox.find_bwrap(settings.ci.bwrap)
        job.state, job.started_at, job.heartbeat_at = "running", utcnow(), utcnow()
        job.runner = f"{socket.gethostname()}:{os.getppid()}:{os.getpid()}"
        job.sandboxed, job.reason = bwrap is not None, ""
        job.run.state = "running"
        job_status(session, job)
        path = log_path(settings.logs_dir, job)
        sha, name, script, run_id = job.run.sha, job.name, job.script, job.run_id
        ref = job.run.ref or ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    limits = settings.ci
    refusal = None
    if bwrap is None and not limits.unsandboxed:
        refusal = NO_SANDBOX
    elif definition.get("network") and not limits.network:
        refusal = "the job asks for the network (network: true), which this forge does not allow"
    scratch = settings.workspaces_dir / f"ci-{job_id}-{attempt}"
    outcome = None
    try:
        if refusal is None:
            if bwrap is None and os.geteuid() == 0:
                scratch = _unsandboxed_scratch(job_id, attempt)
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(mode=0o711, parents=True)
            workspace = scratch / "workspace"
            checkout(repo_path, sha, workspace)
            with _job_user(settings) as uid:
                sandbox = ci_sandbox.Sandbox(
                    workspace=workspace,
                    hidden=[settings.home, settings.repos_dir, settings.logs_dir],
                    timeout=min(definition.get("timeout", 600), limits.max_timeout),
                    memory_mb=_capped(definition, "memory_mb", limits.memory_mb),
                    processes=_capped(definition, "processes", limits.processes),
                    file_mb=_capped(definition, "file_mb", limits.file_mb),
                    disk_mb=_capped(definition, "disk_mb", limits.disk_mb),
                    log_limit=limits.log_limit,
                    network=bool(definition.get("network")),
                    bwrap=bwrap,
                    mounts=limits.mounts,
                    uid=uid,
                )
                env = {
                    **definition.get("env", {}),
                    "FORGE_CI": "true",
                    "CI_COMMIT_SHA": sha,
                    "CI_REF": ref,
                    "CI_JOB": name,
                    "CI_RUN_ID": str(run_id),
                }
                outcome = ci_sandbox.run_script(
                    script, env, sandbox, path, _stop_check(database, job_id, attempt)
                )
    except (CheckoutError, OSError, ci_sandbox.NoJobUser) as exc:
        refusal = f"forge could not prepare the job: {exc}"
    finally:
        ci_sandbox.remove_tree(scratch)
    if refusal is not None:
        with open(path, "ab") as log:
            log.write(f"[forge: {refusal}]\n".encode())
    with database.session() as session:
        job = session.get(CiJob, job_id)
        if job is None or job.attempt != attempt or job.state != "running":
            return None  # cancelled meanwhile: it keeps that ending
        if refusal is not None:
            finish(session, job, "errored", refusal)
        else:
            job.exit_code = outcome.exit_code
            finish(session, job, outcome.state, outcome.reason)
        update_run_state(job.run)
        session.flush()
        dispatch(session, ops, finished=job)
        return job.state


def _unsandboxed_scratch(job_id: int, attempt: int) -> Path:
    """The directory of a job run without a sandbox as root.

    Such a job runs under its own user id and sees the host's paths, where $FORGE_HOME is
    closed to it (in the sandbox its directories are bound at paths of their own instead):
    so they go in a directory of the system's temporary one that the job may pass through
    but not list (mode 711).
    """
    return Path(tempfile.mkdtemp(prefix=f"forge-ci-{job_id}-{attempt}-"))


def _job_user(settings: Settings):
    """As root, a user id of the job's own for as long as it runs; otherwise forge's own."""
    if os.geteuid() != 0:
        return contextlib.nullcontext(None)
    limits = settings.ci
    return ci_sandbox.JobUsers(limits.uid_base, limits.uid_count).take()


def _capped(definition: dict, name: str, cap: int) -> int:
    """The job's own limit `name` from its `limits:`, never past the admin's cap."""
    return min(definition["limits"].get(name, cap), cap)


def _stop_check(database: Database, job_id: int, attempt: int) -> Callable[[], bool]:
    """Called each second while the job runs: beat the heart, and say whether to stop."""

    def should_stop() -> bool:
        with database.session() as session:
            job = session.get(CiJob, job_id)
            if job is None or job.attempt != attempt or job.state != "running":
                return True
            job.heartbeat_at = utcnow()
            return False

    return should_stop
