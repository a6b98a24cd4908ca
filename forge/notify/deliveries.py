"""Webhook deliveries on rq: does the queue hold a try of a delivery, and putting back the
ones it lost (the database says which are pending; see forge.notify.webhooks.reconcile)."""

from __future__ import annotations

from datetime import timedelta

from forge.queue import enqueue, holds


def queued(connection, delivery_id: int, try_number: int) -> bool:
    """Is this try waiting on the queue, or being run by a worker that is still alive?"""
    from forge.notify.webhooks import job_id

    return holds(connection, job_id(delivery_id, try_number))


def reconcile(database, settings, connection, grace: timedelta | None = None):
    """Queue again the pending deliveries that are due and that the queue lost; their ids."""
    from forge.notify import webhooks

    webhooks.attach(
        database,
        settings,
        lambda name, func, *args, **kwargs: enqueue(connection, name, func, *args, **kwargs),
    )
    extra = {} if grace is None else {"grace": grace}
    with database.session() as session:
        return webhooks.reconcile(
            session,
            lambda delivery_id, try_number: queued(connection, delivery_id, try_number),
            **extra,
        )
