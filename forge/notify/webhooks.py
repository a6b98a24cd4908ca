"""Webhooks: managing hooks, recording events as deliveries, sending them, and re-queuing
the ones the queue lost.

A hook belongs to a repository (managed by its admins) or is a system hook (no repository,
managed by site admins) that receives the events of every repository.

How an event travels:

1. A service (or a post-receive action) calls `emit(session, repository, event, ...)`. If an
   active hook of the repository wants the event, the payload is built *now*, by the payload
   builder registered for the event (GitHub's shapes, `forge.api.hooks`, registered by each
   process's factory through `forge.subscribers`), and one `WebhookDelivery` row per hook is
   added, status "pending".
2. Once the session commits, each delivery id is put on the `hooks` queue (never before, so
   a worker cannot see a row that is not there; and nothing is sent while a push waits).
3. A worker runs `attempt(...)`: it checks the target's addresses (the SSRF guard, at delivery
   time, so a DNS change after creation cannot point a hook inside), connects to the checked
   address, sends, records the attempt, and says whether to try again later.
4. The database is the truth: `reconcile` (run now and then by the workers) puts back on the
   queue every pending delivery that is due but that the queue does not hold (Redis restarted,
   or the worker died mid-attempt).

URLs in payloads: payloads are snapshots built when the event happens. Builders get the
forge's external base URL explicitly (`base_url`, e.g. a push's `PushContext.base_url`); when
the caller passes none they use FORGE_BASE_URL, else the URL of the request being served.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from forge import events, outbox
from forge.accounts.permissions import require
from forge.db import Database, utcnow
from forge.errors import Invalid, NotFound
from forge.models import Repository, User, Webhook, WebhookAttempt, WebhookDelivery

# The events forge sends, as GitHub names them.
EVENTS = (
    "push",
    "create",
    "delete",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "status",
    # forge's own: votes on a change's labels, and its way through the merge queue.
    "vote",
    "merge_queue",
)
CONTENT_TYPES = ("json", "form")
TIMEOUT_SECONDS = 10
BODY_EXCERPT = 2048
USER_AGENT = "GitHub-Hookshot/forge"
DELIVERY_JOB = "forge.jobs.deliver_webhook"

# event -> builder(base_url, **subject) -> payload dict; filled by the API layer.
PAYLOAD_BUILDERS: dict[str, Callable[..., dict]] = {}


def register_payloads(builders: dict[str, Callable[..., dict]]) -> None:
    PAYLOAD_BUILDERS.update(builders)


# --- wiring: how deliveries reach the queue ---------------------------------------------------


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
    dispatcher = Dispatcher(policy, settings.base_url, enqueue)
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


# --- the SSRF guard --------------------------------------------------------------------------


class Refused(Exception):
    """The target is not one forge may send to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address to connect to


def _allowed(host: str, address: ipaddress._BaseAddress, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _internal(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
        or str(address) == "169.254.169.254"
    )


def check_target(url: str, allowed: tuple[str, ...] = ()) -> Target:
    """Resolve the URL's host and refuse internal addresses unless allowed; the answer names
    the address to connect to, so a second resolution cannot swap it (DNS rebinding)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the URL must be http:// or https:// with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL's port is not a number") from None
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"{host} cannot be resolved") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%")[0])
        if _internal(address) and not _allowed(host, address, allowed):
            raise Refused(
                f"{host} resolves to {address}, an internal address webhooks may not reach "
                "(FORGE_WEBHOOK_ALLOWED_HOSTS lets it through)"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


# --- managing hooks --------------------------------------------------------------------------


def _clean(url, content_type, secret, insecure_ssl, events, allowed: tuple[str, ...]) -> dict:
    values = {}
    if url is not None:
        if not isinstance(url, str) or not url.strip():
            raise Invalid("config.url is required", field="url")
        try:
            check_target(url.strip(), allowed)
        except Refused as exc:
            raise Invalid(f"url is not allowed: {exc}", field="url") from None
        values["url"] = url.strip()
    if content_type is not None:
        if content_type not in CONTENT_TYPES:
            raise Invalid("content_type must be json or form", field="content_type")
        values["content_type"] = content_type
    if secret is not None:
        values["secret"] = str(secret)
    if insecure_ssl is not None:
        values["insecure_ssl"] = str(insecure_ssl) in ("1", "True", "true")
    if events is not None:
        if not isinstance(events, list) or not events:
            raise Invalid("events must be a list of event names", field="events")
        unknown = [e for e in events if e != "*" and e not in EVENTS]
        if unknown:
            raise Invalid(f"unsupported events: {', '.join(map(str, unknown))}", field="events")
        values["events"] = " ".join(dict.fromkeys(events))
    return values


def require_manager(session: Session, actor: User | None, repo: Repository | None) -> None:
    """A repository's hooks are its admins'; system hooks (`repo` None) are site admins', and
    to anyone else they do not exist."""
    if repo is not None:
        require(session, actor, "admin", repo)
    elif actor is None or not actor.is_admin:
        raise NotFound("not found")


def hooks_of(session: Session, actor: User | None, repo: Repository | None) -> list[Webhook]:
    """The hooks of `repo`, or the system hooks when `repo` is None."""
    require_manager(session, actor, repo)
    owner = Webhook.repository_id == repo.id if repo else Webhook.repository_id.is_(None)
    return list(session.scalars(select(Webhook).where(owner).order_by(Webhook.id)))


def get_hook(
    session: Session, actor: User | None, repo: Repository | None, hook_id: int
) -> Webhook:
    require_manager(session, actor, repo)
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.repository_id != (repo.id if repo else None):
        raise NotFound("no such hook")
    return hook


def create_hook(
    session: Session,
    actor: User,
    repo: Repository | None,
    *,
    url: str,
    content_type: str = "form",
    secret: str = "",
    insecure_ssl=False,
    events: list[str] | None = None,
    active: bool = True,
    allowed_hosts: tuple[str, ...] = (),
) -> Webhook:
    """A hook of `repo`, or a system hook when `repo` is None. Like GitHub, an active new
    hook is pinged, so its first delivery shows whether the receiver works."""
    require_manager(session, actor, repo)
    if url is None:
        raise Invalid("config.url is required", field="url")
    values = _clean(url, content_type, secret, insecure_ssl, events or ["push"], allowed_hosts)
    hook = Webhook(repository_id=repo.id if repo else None, active=bool(active), **values)
    session.add(hook)
    session.flush()
    if hook.active:
        ping(session, hook, actor)
    return hook


def update_hook(
    session: Session,
    actor: User,
    hook: Webhook,
    *,
    url=None,
    content_type=None,
    secret=None,
    insecure_ssl=None,
    events=None,
    add_events=None,
    remove_events=None,
    active=None,
    allowed_hosts: tuple[str, ...] = (),
) -> Webhook:
    if add_events or remove_events:
        current = events if events is not None else hook.event_list
        events = [e for e in [*current, *(add_events or [])] if e not in (remove_events or [])]
    values = _clean(url, content_type, secret, insecure_ssl, events, allowed_hosts)
    for name, value in values.items():
        setattr(hook, name, value)
    if active is not None:
        hook.active = bool(active)
    hook.updated_at = utcnow()
    session.flush()
    return hook


def delete_hook(session: Session, hook: Webhook) -> None:
    session.delete(hook)
    session.flush()


def deliveries_of(session: Session, hook: Webhook, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.hook_id == hook.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def get_delivery(session: Session, hook: Webhook, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.hook_id != hook.id:
        raise NotFound("no such delivery")
    return delivery


def last_delivery(session: Session, hook: Webhook) -> WebhookDelivery | None:
    found = deliveries_of(session, hook, limit=1)
    return found[0] if found else None


# --- recording events ------------------------------------------------------------------------


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
    if base_url is None and session.info.get("webhooks") is not None:
        base_url = session.info["webhooks"].base_url
    if base_url is None:
        # Set by requests and pushes: the URL the forge was reached at.
        base_url = session.info.get("forge.base_url")
    payload = build(base_url, repository=repository, **subject)
    return [_record(session, hook, event, payload) for hook in hooks]


def send(github_event: str, **fixed) -> Callable[[Session, events.Event], None]:
    """A subscriber that records `github_event` from a domain event: its payload is built
    from the event's fields (`Event.subject`) plus `fixed` (an action, say)."""

    def handler(session: Session, event: events.Event) -> None:
        emit(session, event.repository, github_event, event.base_url, **fixed, **event.subject())

    handler.__name__ = f"send_{github_event}"
    return handler


def _send_review(session: Session, event: events.ReviewSubmitted) -> None:
    send("pull_request_review")(session, event)
    for comment in event.comments:
        emit(session, event.repository, "pull_request_review_comment", event.base_url,
             change=event.change, comment=comment, sender=event.sender)  # fmt: skip


# Which domain events a webhook tells of, as GitHub names it (forge.subscribers wires these).
SUBSCRIPTIONS: dict[type[events.Event], Callable[[Session, events.Event], None]] = {
    events.ChangeOpened: send("pull_request", action="opened"),
    # Every new patch set, from a branch push or a refs/for upload, is GitHub's synchronize.
    events.PatchSetUploaded: send("pull_request", action="synchronize"),
    events.ChangeEdited: send("pull_request", action="edited"),
    events.ChangeClosed: send("pull_request", action="closed"),
    events.ChangeMerged: send("pull_request", action="closed"),
    events.ChangeReopened: send("pull_request", action="reopened"),
    events.ChangeCommented: send("issue_comment"),
    events.ReviewCommentAdded: send("pull_request_review_comment"),
    events.ReviewSubmitted: _send_review,
    events.StatusChanged: send("status"),
    events.VoteCast: send("vote"),
    events.MergeQueueChanged: send("merge_queue"),
}


def queue_position(entry) -> int | None:
    """Where a waiting merge queue entry stands in its branch's queue (1 = next), for the
    merge_queue event; None once it left the queue."""
    from sqlalchemy.orm import object_session

    from forge.gate.merge_queue import position_of

    session = object_session(entry)
    return position_of(session, entry) if session is not None else None


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


# --- sending ---------------------------------------------------------------------------------


def request_for(hook: Webhook, delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The body and headers a delivery is sent with, signed with the hook's current secret."""
    if hook.content_type == "form":
        body = urlencode({"payload": delivery.payload}).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body = delivery.payload.encode()
        content_type = "application/json"
    headers = {
        "Accept": "*/*",
        "User-Agent": USER_AGENT,
        "Content-Type": content_type,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": delivery.guid,
        "X-GitHub-Hook-ID": str(hook.id),
    }
    if hook.is_system:
        # GitHub Enterprise's global webhooks are the enterprise's ("business").
        headers["X-GitHub-Hook-Installation-Target-Type"] = "business"
    else:
        headers["X-GitHub-Hook-Installation-Target-Type"] = "repository"
        headers["X-GitHub-Hook-Installation-Target-ID"] = str(hook.repository_id)
    if hook.secret:
        key = hook.secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return body, headers


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address the guard checked, whatever the host name resolves to now."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext):
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass
class Outcome:
    status_code: int | None = None
    headers: dict | None = None
    body: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        # Network errors, timeouts and server errors; not refusals or 4xx answers.
        if self.status_code is None:
            return not self.error.startswith("refused:")
        return self.status_code >= 500


def _post(target: Target, body: bytes, headers: dict, insecure: bool) -> Outcome:
    if target.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = _PinnedHTTPS(target, TIMEOUT_SECONDS, context)
    else:
        conn = _PinnedHTTP(target, TIMEOUT_SECONDS)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()  # redirects are answers too: never followed
        excerpt = b""
        while len(excerpt) < BODY_EXCERPT and time.monotonic() < deadline:
            chunk = response.read(BODY_EXCERPT - len(excerpt))
            if not chunk:
                break
            excerpt += chunk
        return Outcome(
            status_code=response.status,
            headers=dict(response.getheaders()),
            body=excerpt.decode("utf-8", "replace"),
        )
    except TimeoutError:
        return Outcome(error=f"timed out after {TIMEOUT_SECONDS} s")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()


def attempt(session: Session, delivery_id: int, allowed_hosts: tuple[str, ...]) -> Outcome | None:
    """Try a delivery once and record the attempt; None when there is nothing to send (the
    hook or the delivery is gone, or it was already delivered)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status == "delivered":
        return None
    hook = session.get(Webhook, delivery.hook_id)
    if hook is None:
        return None
    body, headers = request_for(hook, delivery)
    started = utcnow()
    clock = time.monotonic()
    try:
        target = check_target(hook.url, allowed_hosts)
    except Refused as exc:
        outcome = Outcome(error=f"refused: {exc}")
    else:
        outcome = _post(target, body, headers, hook.insecure_ssl)
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=len(delivery.attempts) + 1,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            status_code=outcome.status_code,
            response_headers=json.dumps(outcome.headers or {}),
            response_body=outcome.body,
            error=outcome.error,
        )
    )
    delivery.request_headers = json.dumps(headers)
    if outcome.delivered:
        delivery.status, delivery.delivered_at = "delivered", utcnow()
    else:
        delivery.status = "pending" if outcome.retryable else "failed"
    session.flush()
    return outcome


def give_up(session: Session, delivery_id: int) -> None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is not None and delivery.status == "pending":
        delivery.status = "failed"


# --- the database is the truth: re-queuing what the queue lost --------------------------------

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


def reconcile(
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
