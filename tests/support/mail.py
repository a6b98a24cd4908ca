"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what forge sends, and a way to have
a real rq worker send what forge queued.

`smtp_server` asks for a login (the user and password forge must take from FORGE_SMTP_URL)
and keeps every message; `mail_settings` points the app's settings at it; `send_mail_now`
runs a worker over the default queue in this process, with the environment a `forge worker`
would have, until the queue is empty.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port, wait_for

from forge.config import parse_smtp_url
from forge.worker import run_worker

SMTP_USER = "forge-mailer"
SMTP_PASSWORD = "p@ss:word/1"  # characters a URL must percent-encode


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, subject: str, count: int = 1) -> EmailMessage:
        """The `count`-th message to `address` whose subject holds `subject`."""

        def arrived():
            found = [m for m in self.to(address) if subject in m["Subject"]]
            return found[count - 1] if len(found) >= count else None

        return wait_for(arrived, what=f"mail {subject!r} to {address}")


def link_in(message: EmailMessage | str, path: str) -> str:
    """The first URL in the message's text whose path starts with `path`."""
    text = message if isinstance(message, str) else message.get_content()
    match = re.search(r"https?://\S+" + re.escape(path) + r"\S+", text)
    assert match, f"no {path} link in:\n{text}"
    return match.group(0)


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        if ok:
            mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,  # plain SMTP on loopback; STARTTLS is a URL option away
    )
    controller.start()
    auth = f"{quote(SMTP_USER, safe='')}:{quote(SMTP_PASSWORD, safe='')}"
    mailbox.url = f"smtp://{auth}@127.0.0.1:{port}?from=forge@example.org"
    yield mailbox
    controller.stop()


@pytest.fixture
def mail_settings(settings, smtp_server):
    """The app's settings with FORGE_SMTP_URL pointing at `smtp_server`."""
    settings.smtp = parse_smtp_url(smtp_server.url)
    return settings


@pytest.fixture
def send_mail_now(settings, monkeypatch):
    """Run a real rq worker over the default queue until it is empty (what `forge worker`
    would do), with the environment `forge serve` gives its workers."""

    def run() -> None:
        for name, value in settings.environment().items():
            monkeypatch.setenv(name, value)
        if settings.smtp is None:
            monkeypatch.delenv("FORGE_SMTP_URL", raising=False)
        run_worker(settings.redis_url, ["default"], burst=True)

    return run
