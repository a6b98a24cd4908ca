"""What CI jobs leave behind: each job's commit status `ci/<job>` linking to its run's page,
a job's ending and the run's state that follows from its jobs' (the worst wins; a run that
ends publishes `CiRunFinished`), and the jobs' logs on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session, object_session

from forge import events
from forge.db import utcnow
from forge.models import CiJob, CiRun, CommitStatus
from forge.models.ci import FINISHED

STATUS_STATES = {
    "waiting": "pending",
    "queued": "pending",
    "running": "pending",
    "passed": "success",
    "failed": "failure",
    "timed_out": "failure",
    "errored": "error",
    "cancelled": "error",
}
# Which finished state a run shows when its jobs ended differently: the worst wins.
SEVERITY = ("passed", "cancelled", "failed", "timed_out", "errored")


def finish(session: Session, job: CiJob, state: str, reason: str) -> None:
    job.state, job.reason, job.finished_at = state, reason, utcnow()
    job_status(session, job)


def update_run_state(run: CiRun) -> None:
    states = [job.state for job in run.jobs]
    if not states:
        return
    if "running" in states:
        run.state = "running"
    elif "queued" in states:
        run.state = "running" if any(s in FINISHED for s in states) else "queued"
    elif "waiting" in states:
        run.state = "waiting"
    else:
        run.state = max(states, key=SEVERITY.index)
    run.updated_at = utcnow()
    if run.state in FINISHED:
        # A failed head settles the votes on its patch set (reputation); the merge queue waits
        # for its runs, and a change's passing run may make it ready.
        events.publish(object_session(run), events.CiRunFinished(run=run))


def run_url(run: CiRun) -> str:
    return f"{run.base_url}/{run.repository.full_name}/actions/runs/{run.id}"


def job_status(session: Session, job: CiJob) -> None:
    description = {
        "waiting": "Waiting for approval",
        "queued": "Queued",
        "running": "Running",
        "passed": "Passed",
    }.get(job.state, job.reason or job.state.replace("_", " ").capitalize())
    record_status(session, job.run, f"ci/{job.name}", STATUS_STATES[job.state], description)


def record_status(session: Session, run: CiRun, context: str, state: str, description: str) -> None:
    if run.event == "repro":
        # An issue's reproduction (forge.issues.repro) runs on the default branch's tip: a
        # reproduced bug is what it hopes to show, not a red commit.
        return
    # Set by forge itself, so not through statuses.create_status (which checks a user's role).
    status = CommitStatus(
        repository_id=run.repository_id,
        sha=run.sha,
        context=context,
        state=state,
        description=description[:1000],
        target_url=run_url(run) if run.base_url.startswith(("http://", "https://")) else "",
        creator_id=None,
    )
    session.add(status)
    session.flush()
    # Webhooks say `status`, as for any status; the sender is whoever the run is for.
    events.publish(
        session,
        events.StatusChanged(
            status=status, sender=run.actor, repo=run.repository, base_url=run.base_url or None
        ),
    )


def log_path(logs_dir: Path, job: CiJob) -> Path:
    return (
        logs_dir
        / "ci"
        / str(job.run.repository_id)
        / str(job.run_id)
        / f"{job.id}.{job.attempt}.log"
    )


def read_log(logs_dir: Path, job: CiJob, offset: int = 0, limit: int = 256 * 1024) -> bytes:
    try:
        with open(log_path(logs_dir, job), "rb") as log:
            # Clamped: an offset past what a file can hold makes seek() raise.
            log.seek(min(max(0, offset), os.fstat(log.fileno()).st_size))
            return log.read(limit)
    except FileNotFoundError:
        return b""


def read_log_text(logs_dir: Path, job: CiJob, offset: int = 0, limit: int = 256 * 1024):
    """Up to `limit` bytes of the log from `offset` as text, and the offset to read on from.

    A chunk that ends inside a UTF-8 character stops before it, so a reader polling with the
    returned offset never sees a character cut in two.
    """
    data = read_log(logs_dir, job, offset, limit)
    cut = len(data)
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead byte
            continue
        if byte >= 0xC0 and back < (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4):
            cut = len(data) - back  # the lead byte's character is not complete yet
        break
    return data[:cut].decode("utf-8", "replace"), max(0, offset) + cut
