"""The transactional outbox: work that must follow a committed change, recorded in the same
transaction, so a push, merge or vote whose transaction commits always gets its follow-up
jobs (webhook deliveries, CI dispatch, merge-queue steps, pack maintenance), and one whose
transaction rolls back gets none.

`put(session, queue, func, *args)` writes an `OutboxMessage` row beside the change. Once the
transaction commits, the row is handed to rq at once (through the session's way to the queue,
`info["forge.enqueue"]`, or the one the caller names) and deleted. If that hand-over fails
(Redis is down, the process dies right after the commit) the commit still stands: the caller
is never told "failed" about something that happened, and the row stays. `relay` puts the rows
older than a few seconds on the queue; the reconciler beside every CI worker runs it every
15 seconds (`forge.worker.reconcile_forever`), and `forge outbox relay` runs it once.

Delivery is at least once: a hand-over whose row could not be deleted afterwards is relayed
again, so each job forge queues this way tolerates running twice (each checks the database
for what is still due).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session

from forge.db import after_commit, after_rollback, utcnow
from forge.models import OutboxMessage

log = logging.getLogger(__name__)

PENDING = "forge.outbox"
# The relay leaves rows this young to the process that committed them (it hands them over
# right after its commit), so a job is rarely queued twice.
GRACE_SECONDS = 10

Enqueue = Callable[..., object]  # enqueue(queue_name, func, *args, job_id=...)


def put(
    session: Session,
    queue_name: str,
    func: str,
    *args,
    job_id: str | None = None,
    enqueue: Enqueue | None = None,
) -> OutboxMessage:
    """Record that `func(*args)` goes on `queue_name` once this transaction commits.
    `args` must be JSON values; `job_id` names the rq job."""
    message = OutboxMessage(
        queue=queue_name, func=func, args=json.dumps(list(args)), job_id=job_id, attempts=0,
        last_error="",
    )  # fmt: skip
    session.add(message)
    pending = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = []
        after_commit(session, lambda: _hand_over(session, pending))
        after_rollback(session, lambda: session.info.pop(PENDING, None))
    pending.append((message, queue_name, func, list(args), job_id, enqueue))
    return message


def _hand_over(session: Session, pending: list) -> None:
    """Right after the commit: queue what this transaction recorded, delete what was queued.
    Never raises: the change is committed whatever happens to its follow-up work here."""
    session.info.pop(PENDING, None)
    fallback = session.info.get("forge.enqueue")
    handed: list[int] = []
    for message, queue_name, func, args, job_id, enqueue in pending:
        identity = inspect(message).identity
        way = enqueue or fallback
        if identity is None or way is None:
            continue  # not written, or no queue here: the relay sends it
        try:
            way(queue_name, func, *args, **({"job_id": job_id} if job_id else {}))
        except Exception as exc:  # Redis down: the relay tries again; the commit stands
            log.warning("queueing %s after commit failed (%s); the outbox relay retries", func, exc)
            break
        handed.append(identity[0])
    if not handed:
        return
    try:
        with session.get_bind().begin() as connection:
            connection.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(handed)))
    except Exception as exc:  # the jobs are queued; the relay may queue them once more
        log.warning("removing %d queued outbox rows failed: %s", len(handed), exc)


def relay(database, enqueue: Enqueue, grace_seconds: float = GRACE_SECONDS, limit=500) -> int:
    """Queue the outbox rows older than `grace_seconds` (their hand-over failed) and delete
    them; stop at the first failure (Redis is still down). Returns how many were queued."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    sent = 0
    with database.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.created_at <= cutoff)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: two relays share the rows
        ).all()
        for row in rows:
            try:
                enqueue(row.queue, row.func, *json.loads(row.args),
                        **({"job_id": row.job_id} if row.job_id else {}))  # fmt: skip
            except Exception as exc:
                row.attempts += 1
                row.last_error = str(exc)[:1000]
                log.warning("the outbox relay could not queue %s: %s", row.func, exc)
                break
            session.delete(row)
            sent += 1
    return sent


def waiting(session: Session) -> int:
    """How many rows wait for the relay (for health checks and tests)."""
    from sqlalchemy import func

    return session.scalar(select(func.count(OutboxMessage.id))) or 0
