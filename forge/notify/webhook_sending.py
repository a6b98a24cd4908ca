"""Sending a webhook delivery: the SSRF guard that checks where it may go (at delivery time,
so a DNS change after a hook's creation cannot point it inside), the signed request, one
attempt recorded with what the receiver answered, and whether to try again.
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
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from forge.db import utcnow
from forge.models import Webhook, WebhookAttempt, WebhookDelivery

TIMEOUT_SECONDS = 10
BODY_EXCERPT = 2048
USER_AGENT = "GitHub-Hookshot/forge"


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
