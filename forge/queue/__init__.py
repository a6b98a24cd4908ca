"""The job queue (rq on Redis). Nothing outside this package imports rq or redis.

`connect()` opens Redis from the settings, `enqueue()` puts a job on a named queue,
`forge.queue.embedded` runs the embedded Redis, `forge.worker` runs a worker.
"""

from __future__ import annotations

import redis
from rq import Queue

QUEUES = ("default", "hooks", "ci")


class QueueUnavailable(Exception):
    """Redis cannot be reached; the message names where forge looked (no password)."""


def connect(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)


def check(connection: redis.Redis) -> None:
    try:
        connection.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise QueueUnavailable(f"cannot reach Redis: {exc}") from None


def queue(connection: redis.Redis, name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection)


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
