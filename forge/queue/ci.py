"""CI on rq: one rq job per attempt of a CI job, named so that it is never queued twice, and
the reconciler that long-running workers keep beside them."""

from __future__ import annotations

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from forge.queue import queue

LIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
# rq stops a job that outlives its CI timeout by this much (the sandbox normally does first).
GRACE_SECONDS = 120


def rq_id(job_id: int, attempt: int) -> str:
    return f"forge-ci-{job_id}-{attempt}"


def submit(connection: redis.Redis, job_id: int, attempt: int, timeout: int) -> None:
    queue(connection, "ci").enqueue(
        "forge.jobs.run_ci_job",
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
