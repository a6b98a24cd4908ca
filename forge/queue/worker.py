"""Running an rq worker for forge's queues."""

from __future__ import annotations

import logging

from rq import Worker

from forge.queue import QUEUES, check, connect, queue


def _reconcile_webhooks() -> None:
    from forge.queue.jobs import reconcile_webhooks

    reconcile_webhooks()


# queue name -> what a long-running worker of that queue sets right during rq's upkeep (at
# start and every few minutes): the database is the truth, the queue may have lost jobs.
RECONCILERS = {"hooks": [_reconcile_webhooks]}


class ForgeWorker(Worker):
    reconcilers: list = []

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for reconcile in self.reconcilers:
            try:
                reconcile()
            except Exception:  # a failed pass must not stop the worker; the next one retries
                self.log.exception("reconciling with %s failed", reconcile.__name__)


def run_worker(redis_url: str, queue_names: list[str] | None = None, burst: bool = False) -> None:
    connection = connect(redis_url)
    check(connection)
    names = queue_names or list(QUEUES)
    worker = ForgeWorker([queue(connection, n) for n in names], connection=connection)
    if not burst:
        # Reconcilers read the settings from the environment, as `forge worker` sets it.
        worker.reconcilers = [r for n in names for r in RECONCILERS.get(n, [])]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
