"""forge's rq workers: how they stop."""

from __future__ import annotations

import time

import pytest
import redis

from forge.queue import queue
from forge.worker import ForgeWorker, InProcessWorker


@pytest.mark.parametrize("worker_class", [ForgeWorker, InProcessWorker])
def test_a_worker_stops_listening_for_commands_at_once(clean_redis, worker_class):
    # The race that made burst workers take 61 s to stop, made certain: the thread that
    # listens for rq's commands handles the reply to UNSUBSCRIBE before it is told to end.
    connection = redis.Redis.from_url(clean_redis)
    worker = worker_class([queue(connection, "default")], connection=connection)
    worker.subscribe()
    pubsub, thread = worker.pubsub, worker.pubsub_thread
    unsubscribe = pubsub.unsubscribe

    def unsubscribe_and_let_the_thread_see_the_reply(*args):
        unsubscribe(*args)
        deadline = time.monotonic() + 5
        while pubsub.subscribed and time.monotonic() < deadline:
            time.sleep(0.01)

    pubsub.unsubscribe = unsubscribe_and_let_the_thread_see_the_reply
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 5
    assert not thread.is_alive()
    connection.close()
