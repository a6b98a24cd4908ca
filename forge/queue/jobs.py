"""Jobs that run on the workers. Each takes plain values so it can be serialised by rq."""

from __future__ import annotations

import os
from pathlib import Path


def ping(payload: str) -> dict:
    """Answer with the payload and the worker's process id: proves a worker is taking jobs."""
    return {"payload": payload, "pid": os.getpid()}


def maintain_repository(repo_path: str) -> dict:
    """Merge a repository's packs after pushes, so clones can be served from one pack."""
    from forge.git.maintenance import merge_packs

    result = merge_packs(Path(repo_path))
    if result is None:
        return {"skipped": "another maintenance run holds the lock"}
    return {"packs_merged": result.packs_merged, "loose_merged": result.loose_merged}


def deliver_webhook(
    database_url: str,
    delivery_id: int,
    allowed_hosts: list[str],
    retry_delays: list[int],
    try_number: int = 1,
) -> dict:
    """Send one webhook delivery once; on a network error, a timeout or a 5xx answer, put the
    next try on the queue after the next delay of `retry_delays` (the database row, not this
    job, is the record of what happened)."""
    from rq import get_current_job

    from forge.db import Database
    from forge.queue import enqueue_in
    from forge.services import webhooks

    database = Database(database_url)
    try:
        with database.session() as session:
            outcome = webhooks.attempt(session, delivery_id, tuple(allowed_hosts))
            if outcome is None or outcome.delivered or not outcome.retryable:
                return {"delivery": delivery_id, "status": outcome and outcome.status_code}
            if try_number >= len(retry_delays):
                webhooks.give_up(session, delivery_id)
                return {"delivery": delivery_id, "status": "failed"}
        job = get_current_job()
        enqueue_in(
            job.connection,
            "hooks",
            retry_delays[try_number],
            deliver_webhook,
            database_url,
            delivery_id,
            allowed_hosts,
            retry_delays,
            try_number + 1,
        )
        return {"delivery": delivery_id, "retry_in": retry_delays[try_number]}
    finally:
        database.dispose()
