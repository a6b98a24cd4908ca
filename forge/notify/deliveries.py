"""Webhook deliveries on rq: does the queue hold a try of a delivery, and putting back the
ones it lost (the database says which are pending; see forge.notify.webhooks.reconcile)."""

from __future__ import annotations

from datetime import timedelta

import redis
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from forge.queue import enqueue

WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def queued(connection: redis.Redis, delivery_id: int, try_number: int) -> bool:
    """Is this try waiting on the queue, or being run by a worker that is still alive?"""
    from forge.notify.webhooks import job_id

    try:
        job = Job.fetch(job_id(delivery_id, try_number), connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status in WAITING:
        return True
    if status == JobStatus.STARTED and job.worker_name:
        # A worker that died mid-attempt stops renewing its key; then the try is lost.
        key = Worker.redis_worker_namespace_prefix + job.worker_name
        return Worker.find_by_key(key, connection=connection) is not None
    return False


def reconcile(database, settings, connection: redis.Redis, grace: timedelta | None = None):
    """Queue again the pending deliveries that are due and that the queue lost; their ids."""
    from forge.notify import webhooks

    webhooks.attach(
        database,
        settings,
        lambda name, func, *args, **kwargs: enqueue(connection, name, func, *args, **kwargs),
    )
    extra = {} if grace is None else {"grace": grace}
    with database.session() as session:
        return webhooks.reconcile(
            session,
            lambda delivery_id, try_number: queued(connection, delivery_id, try_number),
            **extra,
        )
