"""The job queue (rq on Redis). Nothing outside this package imports rq or redis.

`connect()` opens Redis from the settings, `enqueue()` puts a job on a named queue,
`forge.queue.embedded` runs the embedded Redis, `forge.worker` runs a worker.
"""

from __future__ import annotations

import os
import socket

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from forge import logs

QUEUES = ("default", "hooks", "ci")


# What a call to Redis raises when Redis cannot be reached (stopped, restarting, too slow).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError)


class QueueUnavailable(Exception):
    """Redis cannot be reached; the message names where forge looked (no password)."""


def connect(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)


def check(connection: redis.Redis) -> None:
    try:
        connection.ping()
    except UNREACHABLE as exc:
        raise QueueUnavailable(f"cannot reach Redis: {exc}") from None


class ForgeQueue(Queue):
    """rq's queue, whose jobs carry the id of the request that queued them (in `meta`), so the
    worker's log lines while running a job name the request behind it (forge.logs)."""

    def create_job(self, *args, meta: dict | None = None, **kwargs):
        request_id = logs.request_id.get()
        if request_id and not (meta or {}).get("request_id"):
            meta = {**(meta or {}), "request_id": request_id}
        return super().create_job(*args, meta=meta, **kwargs)


def queue(connection: redis.Redis, name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return ForgeQueue(name, connection=connection)


def depths(connection: redis.Redis) -> dict[str, int]:
    """How many jobs wait on each queue (scheduled and running ones not counted)."""
    return {name: queue(connection, name).count for name in QUEUES}


def enqueue(connection: redis.Redis, queue_name: str, func, *args, **kwargs):
    """Put `func(*args, **kwargs)` on a queue; returns the rq job."""
    return queue(connection, queue_name).enqueue(func, *args, **kwargs)


def enqueue_in(connection: redis.Redis, queue_name: str, seconds: float, func, *args, **kwargs):
    """Put `func(*args)` on a queue after `seconds` (the worker's scheduler moves it there)."""
    if seconds <= 0:
        return enqueue(connection, queue_name, func, *args, **kwargs)
    from datetime import timedelta

    return queue(connection, queue_name).enqueue_in(
        timedelta(seconds=seconds), func, *args, **kwargs
    )


_WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def holds(connection: redis.Redis, job_id: str) -> bool:
    """Is the job waiting on a queue, or being run by a worker that is still alive? False
    means the queue lost it (Redis restarted, or the worker died mid-job): put it back."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return True
    if status == JobStatus.STARTED and job.worker_name:
        return _worker_alive(connection, job.worker_name)
    return False


def _worker_alive(connection: redis.Redis, name: str) -> bool:
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    if worker is None:
        return False  # it stopped renewing its key: gone
    if worker.hostname == socket.gethostname() and worker.pid:
        # On this machine a killed worker is known at once; its key would outlive it for
        # minutes (rq's heartbeat TTL), holding its job hostage that long.
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, another user's
    return True
