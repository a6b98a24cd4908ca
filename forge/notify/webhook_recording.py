"""Recording webhook events as deliveries, and handing them to the `hooks` queue.

`emit` builds an event's payload once (by the builder the API layer registered for it) and adds
one pending `WebhookDelivery` per active hook that wants it; each delivery's first try goes on
the queue through the outbox once the transaction commits, by the `Dispatcher` that `attach`
put in the database's sessions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from forge import outbox
from forge.db import Database
from forge.models import Repository, User, Webhook, WebhookDelivery

DELIVERY_JOB = "forge.jobs.deliver_webhook"

# event -> builder(base_url, **subject) -> payload dict; filled by the API layer.
PAYLOAD_BUILDERS: dict[str, Callable[..., dict]] = {}


def register_payloads(builders: dict[str, Callable[..., dict]]) -> None:
    PAYLOAD_BUILDERS.update(builders)


@dataclass(frozen=True)
class DeliveryPolicy:
    """What a delivery job needs to know, as plain values that travel with the job."""

    database_url: str
    allowed_hosts: tuple[str, ...]
    retry_delays: tuple[int, ...]

    def job_args(self, delivery_id: int, try_number: int = 1) -> tuple:
        return (
            self.database_url,
            delivery_id,
            list(self.allowed_hosts),
            list(self.retry_delays),
            try_number,
        )


@dataclass(frozen=True)
class Dispatcher:
    policy: DeliveryPolicy
    base_url: str | None
    # enqueue(queue_name, "module.function", *args, job_id=...): job_id names the try, so
    # the reconciler can ask the queue whether it holds it.
    enqueue: Callable[..., object]
    # Where the repositories are: payloads count a pull request's lines or read a commit.
    repos_dir: Path | None = None

    def send(self, delivery_id: int, try_number: int = 1) -> None:
        self.enqueue(
            "hooks",
            DELIVERY_JOB,
            *self.policy.job_args(delivery_id, try_number),
            job_id=job_id(delivery_id, try_number),
        )


def job_id(delivery_id: int, try_number: int) -> str:
    """The queue's name for one try of a delivery: the reconciler asks the queue for it."""
    return f"forge-hook-{delivery_id}-{try_number}"


def attach(database: Database, settings, enqueue: Callable[..., object]) -> None:
    """Let every session of this database queue the deliveries it records once it commits."""
    policy = DeliveryPolicy(
        database_url=settings.database_url,
        allowed_hosts=tuple(settings.webhook_allowed_hosts),
        retry_delays=tuple(settings.webhook_retry_delays) or (0,),
    )
    dispatcher = Dispatcher(policy, settings.base_url, enqueue, settings.repos_dir)
    info = dict(database.sessionmaker.kw.get("info") or {})
    database.sessionmaker.configure(info={**info, "webhooks": dispatcher})


def _send_after_commit(session: Session, delivery_id: int) -> None:
    """The delivery's first try goes on the `hooks` queue once the transaction commits,
    through the outbox; without a dispatcher (no policy known here) the reconciler finds the
    pending row."""
    dispatcher = session.info.get("webhooks")
    if dispatcher is not None:
        outbox.put(
            session, "hooks", DELIVERY_JOB, *dispatcher.policy.job_args(delivery_id),
            job_id=job_id(delivery_id, 1), enqueue=dispatcher.enqueue,
        )  # fmt: skip


def _record(
    session: Session, hook: Webhook, event: str, payload: dict, guid: str | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        hook_id=hook.id,
        event=event,
        action=payload.get("action") if isinstance(payload.get("action"), str) else None,
        guid=guid or str(uuid.uuid4()),
        payload=json.dumps(payload, separators=(",", ":")),
        redelivery=guid is not None,
    )
    session.add(delivery)
    session.flush()
    _send_after_commit(session, delivery.id)
    return delivery


def _hooks_wanting(session: Session, repository: Repository, event: str) -> list[Webhook]:
    """The repository's active hooks and the system hooks that want `event`."""
    mine_or_system = or_(Webhook.repository_id == repository.id, Webhook.repository_id.is_(None))
    query = select(Webhook).where(mine_or_system, Webhook.active).order_by(Webhook.id)
    return [hook for hook in session.scalars(query) if hook.wants(event)]


def wanted(session: Session, repository: Repository, event: str) -> bool:
    """Does any active hook want `event`? Lets callers skip costly work for a payload."""
    return bool(_hooks_wanting(session, repository, event))


def emit(
    session: Session, repository: Repository, event: str, base_url: str | None = None, **subject
) -> list[WebhookDelivery]:
    """Record `event` for every active hook of the repository, and every system hook, that
    wants it; the payload is built (once) only when some hook does. `subject` goes to the
    event's payload builder."""
    hooks = _hooks_wanting(session, repository, event)
    if not hooks:
        return []
    build = PAYLOAD_BUILDERS.get(event)
    if build is None:
        # A process that never registered its subscribers would lose every event silently.
        raise RuntimeError(
            f"no payload builder for the {event!r} webhook event: the process did not call "
            "forge.subscribers.register()"
        )
    payload = build(_base_url(session, base_url), repository=repository, **subject)
    return [_record(session, hook, event, payload) for hook in hooks]


def _base_url(session: Session, base_url: str | None) -> str | None:
    if base_url is None and session.info.get("webhooks") is not None:
        base_url = session.info["webhooks"].base_url
    if base_url is None:
        # Set by requests and pushes: the URL the forge was reached at.
        base_url = session.info.get("forge.base_url")
    return base_url


def send_to_hook(
    session: Session, hook: Webhook, event: str, base_url: str | None = None, **subject
) -> WebhookDelivery:
    """Record `event` for this one hook (a test delivery), whatever the events it wants."""
    payload = PAYLOAD_BUILDERS[event](_base_url(session, base_url), **subject)
    return _record(session, hook, event, payload)


def ping(
    session: Session, hook: Webhook, sender: User, base_url: str | None = None
) -> WebhookDelivery:
    """Send the hook a ping event (GitHub's, with the hook itself in the payload)."""
    return _record(
        session, hook, "ping", PAYLOAD_BUILDERS["ping"](base_url, hook=hook, sender=sender)
    )


def redeliver(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a past delivery again: a new delivery with the same payload and GUID."""
    hook = session.get(Webhook, delivery.hook_id)
    return _record(session, hook, delivery.event, json.loads(delivery.payload), delivery.guid)
