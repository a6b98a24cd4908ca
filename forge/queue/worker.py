"""Running an rq worker for forge's queues."""

from __future__ import annotations

import logging

from rq import Worker

from forge.queue import QUEUES, check, connect, queue


def run_worker(redis_url: str, queue_names: list[str] | None = None, burst: bool = False) -> None:
    connection = connect(redis_url)
    check(connection)
    names = queue_names or list(QUEUES)
    worker = Worker([queue(connection, n) for n in names], connection=connection)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
