"""Putting CI jobs on the queue, and ending the ones whose worker is gone.

The queue only carries "run job N, attempt A" to a worker (`QueueOps`); the database is the
truth. `dispatch` puts every queued job whose needs passed on the queue unless it is there
already (and skips those whose needs failed); `reconcile` first ends the running jobs whose
worker died or stopped beating, so a lost Redis or a killed worker never leaves a run stuck.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.ci.results import finish, update_run_state
from forge.db import utcnow
from forge.models import CiJob
from forge.models.ci import FINISHED

STALE_AFTER = timedelta(seconds=60)  # a running job without a heartbeat this long is lost


@dataclass
class QueueOps:
    """The queue as CI sees it: put a job's attempt on it, ask whether it is still there."""

    submit: Callable[[CiJob], object]
    present: Callable[[CiJob], bool]


def dispatch(session: Session, ops: QueueOps, finished: CiJob | None = None) -> int:
    """Put every queued job whose needs have passed on the queue (unless it is there already);
    end, as cancelled, the jobs whose needs did not pass. Returns how many were submitted.

    With `finished` (a job that just ended), only the jobs that need it, and theirs in turn
    when skipped, are looked at: a worker ending a job of a 200-job run then asks Redis about
    a few jobs, not about every queued job of the forge (the reconciler catches the rest).
    """
    if finished is None:
        query = select(CiJob).where(CiJob.state == "queued").order_by(CiJob.id)
        queued = list(session.scalars(query))
    else:
        queued = _needing(finished)
    submitted = 0
    while queued:
        job = queued.pop(0)
        if job.state != "queued":
            continue
        needs = json.loads(job.definition).get("needs", [])
        states = {other.name: other.state for other in job.run.jobs}
        failed = [n for n in needs if states.get(n) in FINISHED and states[n] != "passed"]
        if failed:
            finish(session, job, "cancelled", f"skipped: the job {failed[0]} did not pass")
            update_run_state(job.run)
            if finished is not None:
                queued.extend(_needing(job))
            continue
        if any(states.get(n) != "passed" for n in needs):
            continue
        if not ops.present(job):
            ops.submit(job)
            submitted += 1
    return submitted


def _needing(job: CiJob) -> list[CiJob]:
    """The queued jobs of the job's run that list it in their `needs`."""
    return [
        other
        for other in job.run.jobs
        if other.state == "queued" and job.name in json.loads(other.definition).get("needs", [])
    ]


def reconcile(session: Session, ops: QueueOps, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """End the running jobs whose worker is gone, then dispatch; returns the jobs ended.

    A worker is gone when its process no longer exists on this host, or when the job has
    sent no heartbeat for `stale_after` (a worker on another host, or a hung one).
    """
    ended = []
    now = utcnow()
    host = socket.gethostname()
    for job in session.scalars(select(CiJob).where(CiJob.state == "running")).all():
        lost = None
        runner_host, _, pids = job.runner.partition(":")
        if runner_host == host and pids:
            dead = [pid for pid in pids.split(":") if pid.isdigit() and not _alive(int(pid))]
            if dead:
                lost = f"the worker running it stopped (process {dead[0]} is gone)"
        if lost is None and (job.heartbeat_at is None or now - job.heartbeat_at > stale_after):
            lost = f"the worker running it sent no heartbeat for {int(stale_after.seconds)} s"
        if lost is not None:
            finish(session, job, "errored", lost)
            update_run_state(job.run)
            ended.append(job.id)
    session.flush()
    dispatch(session, ops)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone too.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
