"""Webhooks: managing hooks (this module), recording events as deliveries
(`forge.notify.webhook_recording`), sending them (`forge.notify.webhook_sending`, with the SSRF
guard), re-queuing the ones the queue lost (`forge.notify.deliveries`), and which domain events
become which GitHub events (`forge.notify.webhook_subscriptions`).

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

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.db import utcnow
from forge.errors import Invalid, NotFound
from forge.git.pushlog import pushed_commits
from forge.git.refs import ZERO, RefUpdate, current_value
from forge.models import Repository, User, Webhook, WebhookDelivery
from forge.notify.webhook_recording import ping, send_to_hook
from forge.notify.webhook_sending import Refused, check_target
from forge.repos.branches import open_git

# The events forge sends, as GitHub names them.
EVENTS = (
    "push",
    "create",
    "delete",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "issues",
    "label",
    "milestone",
    "status",
    "release",
    # forge's own: votes on a change's labels, and its way through the merge queue.
    "vote",
    "merge_queue",
)
CONTENT_TYPES = ("json", "form")


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


def test_push(
    session: Session, repos_dir: Path, hook: Webhook, sender: User, base_url: str | None = None
) -> WebhookDelivery | None:
    """GitHub's "test the push webhook": the hook gets a push event of the latest commit on
    the default branch (from its first parent), whatever its other deliveries. Nothing is sent
    to a hook that does not want pushes (GitHub answers 204 all the same), nor for an empty
    repository or a system hook, which has no repository to test with."""
    repo = hook.repository
    if repo is None or not hook.wants("push"):
        return None
    ref = f"refs/heads/{repo.default_branch}"
    with open_git(repos_dir, repo) as git:
        tip = current_value(git, ref)
        if tip == ZERO:
            return None
        parents = git[tip.encode()].parents
        before = parents[0].decode() if parents else ZERO
        commits = pushed_commits(git, ref, before, tip)
    update = RefUpdate(ref, before, tip)
    return send_to_hook(session, hook, "push", base_url, repository=repo, update=update,
                        forced=False, commits=commits, pusher=sender)  # fmt: skip
