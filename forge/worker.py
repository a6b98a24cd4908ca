"""Running forge's background processes: an rq worker for its queues, and the CI reconciler
beside a long-running one."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import logging
import time

import redis
from redis.client import PubSubWorkerThread
from rq import SimpleWorker, Worker

from forge import logs, metrics
from forge.queue import QUEUES, check, connect, queue


def _reconcile_webhooks() -> None:
    from forge.jobs import reconcile_webhooks

    reconcile_webhooks()


def _reconcile_merge_queues() -> None:
    from forge.jobs import reconcile_merge_queues

    reconcile_merge_queues()


def _collect_garbage() -> None:
    from forge.jobs import collect_garbage

    collect_garbage()


def _backfill_patch_set_refs() -> None:
    from forge.jobs import backfill_patch_set_refs

    backfill_patch_set_refs()


# queue name -> what a long-running worker of that queue sets right during rq's upkeep (at
# start and every few minutes): the database is the truth, the queue may have lost jobs; and
# pushes cut short by a dead server process left quarantines behind, and patch sets uploaded
# before forge kept refs/changes/NN/N/P lack theirs (`forge gc` does both).
RECONCILERS = {
    "hooks": [_reconcile_webhooks],
    "default": [_reconcile_merge_queues, _collect_garbage, _backfill_patch_set_refs],
}


class Reconciling:
    reconcilers: list = []

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for reconcile in self.reconcilers:
            try:
                reconcile()
            except Exception:  # a failed pass must not stop the worker; the next one retries
                self.log.exception("reconciling with %s failed", reconcile.__name__)


# redis-py 8.2 made PubSubWorkerThread.stop() wait for the thread to end (with no bound unless
# given a timeout); before, it only told the thread to end.
_STOP_WAITS = "timeout" in inspect.signature(PubSubWorkerThread.stop).parameters


class PromptUnsubscribe:
    """Stops the thread that listens for rq's commands (stop a job, shut down) at once.

    rq's unsubscribe() sends UNSUBSCRIBE, whose reply wakes that thread from its 60 s wait, and
    only then tells the thread to end. A thread that handles the reply first is subscribed to
    nothing, so its next get_message waits the full 60 s for a subscription, and redis-py 8.2's
    stop() waits for it: about one worker in four took 61 s to stop. Told to end
    before it is woken, the thread ends on the reply."""

    def unsubscribe(self):
        thread = self.pubsub_thread
        if not thread:
            return
        self.log.info("Worker %s: unsubscribing from %s", self.name, self.pubsub_channel_name)
        if _STOP_WAITS:
            thread.stop(timeout=0)
        else:
            thread.stop()
        # The thread may wake on its own and end first, closing the connection under this
        # call: a closed connection is subscribed to nothing, which is the goal anyway.
        if thread.is_alive():
            with contextlib.suppress(OSError, redis.RedisError):
                self.pubsub.unsubscribe()
        # The reply comes in milliseconds; if Redis is gone the (daemon) thread is left behind.
        thread.join(timeout=5)
        self.pubsub.close()


class Observed:
    """Runs each job under the id of the request that queued it (its log lines carry it) and
    counts how long it took and how it ended. Here in the worker, not in the fork that runs
    the job: a fork's numbers would need a metrics file of their own, one per job."""

    def execute_job(self, job, queue):
        logs.request_id.set((job.meta or {}).get("request_id"))
        started = time.perf_counter()
        try:
            super().execute_job(job, queue)
        finally:
            seconds = time.perf_counter() - started
            try:
                outcome = str(getattr(job.get_status(refresh=True), "value", "unknown"))
            except Exception:  # gone already (no result kept), or Redis away
                outcome = "unknown"
            metrics.observe_job(queue.name, job.func_name, outcome, seconds)
            logs.request_id.set(None)


class ForgeWorker(Observed, PromptUnsubscribe, Reconciling, Worker):
    """Runs each job in a fork of itself (rq's default): a job cannot harm the worker."""


class InProcessWorker(Observed, PromptUnsubscribe, Reconciling, SimpleWorker):
    """Runs each job in the worker's own process, keeping database connections and compiled
    statements from one job to the next: for queues of many short jobs of forge's own (webhook
    deliveries), where a fork per job cost more than the job (see bench/webhooks.py)."""


IN_PROCESS = {"hooks"}

# queue name -> modules its jobs use. A forking worker (`forge serve` runs one for every queue)
# runs each job in a fresh fork: what it imported once, a job does not import again (a quarter
# of a second, each time).
PRELOAD = {
    "hooks": ["forge.notify.webhook_recording", "forge.notify.webhook_sending"],
    "ci": ["forge.ci.runs", "forge.ci.execution", "forge.jobs", "forge.queue.ci"],
}


# How long a worker that lost Redis waits between looks for it (seconds, doubling up to the last).
REDIS_BACKOFF = (1, 2, 4, 8, 15)


def run_worker(redis_url: str, queue_names: list[str] | None = None, burst: bool = False) -> None:
    connection = connect(redis_url)
    check(connection)
    names = queue_names or list(QUEUES)
    for module in {m for n in names for m in PRELOAD.get(n, [])}:
        importlib.import_module(module)
    worker_class = InProcessWorker if set(names) <= IN_PROCESS else ForgeWorker
    logs.configure("worker")
    log = logging.getLogger("forge.worker")
    try:
        while True:
            worker = worker_class([queue(connection, n) for n in names], connection=connection)
            if not burst:
                # Reconcilers read the settings from the environment, as `forge worker` sets
                # it; a worker that starts again after losing Redis runs them again, which
                # puts back what the outage lost (the database is the truth).
                worker.reconcilers = [r for n in names for r in RECONCILERS.get(n, [])]
            try:
                worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if burst:
                    raise
                # rq gives up when Redis goes away mid-job (it cannot record the result); a
                # worker that exited then would leave its queues unserved until restarted.
                log.warning("lost Redis (%s); waiting for it to come back", exc)
                _wait_for_redis(connection, log)
    finally:
        from forge.jobs import dispose_databases

        dispose_databases()


def _wait_for_redis(connection, log) -> None:
    for attempt in itertools.count():
        time.sleep(REDIS_BACKOFF[min(attempt, len(REDIS_BACKOFF) - 1)])
        try:
            connection.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            continue
        log.warning("Redis is back; the worker starts again")
        return


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
    from forge.jobs import reconcile_ci, relay_outbox

    logs.configure("ci-reconciler")
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
