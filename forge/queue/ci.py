"""CI on rq: one rq job per attempt of a CI job, named so that it is never queued twice, and
the reconciler that long-running workers keep beside them."""

from __future__ import annotations

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from forge.queue import connect, queue

LIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
# rq stops a job that outlives its CI timeout by this much (the sandbox normally does first).
GRACE_SECONDS = 120


def rq_id(job_id: int, attempt: int) -> str:
    return f"forge-ci-{job_id}-{attempt}"


def submit(connection: redis.Redis, job_id: int, attempt: int, timeout: int) -> None:
    queue(connection, "ci").enqueue(
        "forge.queue.jobs.run_ci_job",
        job_id,
        attempt,
        job_id=rq_id(job_id, attempt),
        job_timeout=timeout + GRACE_SECONDS,
        result_ttl=600,
        failure_ttl=24 * 3600,
    )


def present(connection: redis.Redis, job_id: int, attempt: int) -> bool:
    """Is this attempt on the queue or being run, as far as Redis knows?"""
    try:
        job = Job.fetch(rq_id(job_id, attempt), connection=connection)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in LIVE


# --- the reconciler ----------------------------------------------------------------------------

RECONCILE_SECONDS = 15
RECONCILE_LOCK = "forge:ci:reconcile"


def start_reconciler(interval: int = RECONCILE_SECONDS):
    """Start the CI reconciler next to a long-running worker: a process of its own, because
    rq's own upkeep runs only every few minutes and never while the worker runs a job, and
    the issue asks that no run stay stuck for more than a minute. It stops with its parent."""
    import subprocess
    import sys

    from forge.procs import die_with_parent

    # Through the CLI, the reconciler process's factory: its passes raise events too.
    argv = [sys.executable, "-m", "forge.cli", "ci", "reconcile", "--every", str(interval)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)


def reconcile_forever(interval: int = RECONCILE_SECONDS) -> None:
    """Every `interval` seconds, unless another worker's reconciler did it in that time (a lock
    in Redis), end the CI jobs whose worker is gone and queue the queued jobs Redis lost.
    Settings come from the environment, as `forge worker` sets it."""
    import logging
    import os
    import secrets
    import time

    from forge.config import Settings
    from forge.queue.jobs import reconcile_ci, relay_outbox

    logging.basicConfig(level=logging.INFO, format="%(asctime)s ci-reconciler %(message)s")
    log = logging.getLogger("forge.ci.reconciler")
    parent = os.getppid()
    connection = connect(Settings.from_env().redis_url)
    me = secrets.token_hex(8)
    while os.getppid() == parent:
        try:
            if connection.set(RECONCILE_LOCK, me, nx=True, ex=max(1, interval - 1)):
                ended = reconcile_ci()
                if ended:
                    log.info("ended %d CI job(s) whose worker was gone: %s", len(ended), ended)
                relayed = relay_outbox()
                if relayed:
                    log.info("queued %d job(s) from the outbox", relayed)
        except Exception:  # Redis or the database away for a moment: the next pass retries
            log.exception("reconciling CI runs failed")
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
