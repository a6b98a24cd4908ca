"""Re-queuing the webhook deliveries the queue lost: the database is the truth. A pending
delivery that is due and that rq does not hold (Redis restarted, or the worker died
mid-attempt) goes back on the `hooks` queue; one that had all its tries is given up. The
workers run `reconcile` now and then (`forge.jobs.reconcile_webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.db import utcnow
from forge.models import WebhookDelivery
from forge.notify.webhook_recording import Dispatcher, attach, job_id
from forge.queue import enqueue, holds

# A delivery is re-queued only this long after it was due, so one whose job is on its way to
# the queue (the recording transaction just committed) is not queued twice.
RECONCILE_GRACE = timedelta(seconds=60)


def due_at(delivery: WebhookDelivery, retry_delays: tuple[int, ...]):
    """When the next try of a pending delivery should happen; None when it had every try."""
    tries = len(delivery.attempts)
    if tries == 0:
        return delivery.created_at
    if tries >= len(retry_delays):
        return None
    latest = delivery.attempts[-1]
    return latest.started_at + timedelta(
        milliseconds=latest.duration_ms, seconds=retry_delays[tries]
    )


def requeue_due(
    session: Session,
    queued: Callable[[int, int], bool],
    grace: timedelta = RECONCILE_GRACE,
) -> list[int]:
    """Put back on the queue every pending delivery that is due (by `grace`) and that the
    queue does not hold: `queued(delivery_id, try_number)` asks the queue. A delivery that had
    all its tries is given up. Returns the ids of the deliveries queued again.

    The session must come from a database `attach`ed to a queue; the jobs go out at once (the
    rows are already committed)."""
    dispatcher: Dispatcher = session.info["webhooks"]
    delays = dispatcher.policy.retry_delays
    deadline = utcnow() - grace
    requeued = []
    pending = select(WebhookDelivery).where(WebhookDelivery.status == "pending")
    for delivery in session.scalars(pending.order_by(WebhookDelivery.id)).all():
        due = due_at(delivery, delays)
        if due is None:
            delivery.status = "failed"
            continue
        try_number = len(delivery.attempts) + 1
        if due > deadline or queued(delivery.id, try_number):
            continue
        dispatcher.send(delivery.id, try_number)
        requeued.append(delivery.id)
    session.flush()
    return requeued


def queued(connection, delivery_id: int, try_number: int) -> bool:
    """Is this try waiting on the queue, or being run by a worker that is still alive?"""
    return holds(connection, job_id(delivery_id, try_number))


def reconcile(database, settings, connection, grace: timedelta | None = None):
    """Queue again the pending deliveries that are due and that the queue lost; their ids."""
    attach(
        database,
        settings,
        lambda name, func, *args, **kwargs: enqueue(connection, name, func, *args, **kwargs),
    )
    extra = {} if grace is None else {"grace": grace}
    with database.session() as session:
        return requeue_due(
            session,
            lambda delivery_id, try_number: queued(connection, delivery_id, try_number),
            **extra,
        )
