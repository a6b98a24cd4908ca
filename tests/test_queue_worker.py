"""forge's rq workers: how they stop, and how they live through Redis going away."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis
from conftest import forge_cli, wait_for

from forge.queue import queue
from forge.queue.embedded import EmbeddedRedis
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


def test_a_worker_that_loses_redis_mid_job_waits_for_it_and_goes_on(tmp_path, database_url):
    """Redis stops while `forge worker` runs a job and starts again later: the worker stays
    up, and work queued afterwards runs without anyone restarting it."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    env = {"DATABASE_URL": database_url, "REDIS_URL": server.url}
    home = tmp_path / "home"
    assert forge_cli("db", "upgrade", home=home, env=env).returncode == 0
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 (closed in finally)
    worker = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(home), "worker", "--queues", "default"],
        env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        connection = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=10)
        busy = queue(connection, "default").enqueue("time.sleep", 3)
        wait_for(lambda: busy.get_status(refresh=True) == "started", what="the job to start")
        connection.close()
        server.stop()  # mid-job
        time.sleep(5)  # the outage: the job ends meanwhile and cannot say so
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        server.start()
        connection = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=10)
        after = queue(connection, "default").enqueue("forge.jobs.ping", "still here")
        wait_for(lambda: after.get_status(refresh=True) == "finished", timeout=60,
                 what="a job queued after the outage")  # fmt: skip
        assert after.return_value(refresh=True)["payload"] == "still here"
        assert worker.poll() is None
        connection.close()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        server.stop()
