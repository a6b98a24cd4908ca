"""The job queue (rq on Redis). Nothing outside this package imports rq or redis.

`connect()` opens Redis from the settings, `enqueue()` puts a job on a named queue,
`forge.queue.embedded` runs the embedded Redis, `forge.worker` runs a worker.
"""

from __future__ import annotations

import redis
from rq import Queue

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
