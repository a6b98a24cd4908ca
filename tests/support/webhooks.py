"""Webhook receivers for the tests: an HTTP server on 127.0.0.1 that records every signed
delivery (the `receiver` fixture, or `running_receiver()` as a context manager), settings that
allow loopback receivers, a burst rq worker on the hooks queue, and helpers that make a hook
and push a commit to set deliveries off.

A module whose tests deliver to the receiver overrides `settings` with `loopback_settings`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from forge.worker import run_worker

SECRET = "It's a Secret to Everybody"


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def event(self) -> str:
        return self.headers["X-GitHub-Event"]

    def payload(self) -> dict:
        if self.headers["Content-Type"] == "application/x-www-form-urlencoded":
            return json.loads(parse_qs(self.body.decode())["payload"][0])
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        sha1 = "sha1=" + hmac.new(secret.encode(), self.body, hashlib.sha1).hexdigest()
        return hmac.compare_digest(
            expected, self.headers.get("X-Hub-Signature-256", "")
        ) and hmac.compare_digest(sha1, self.headers.get("X-Hub-Signature", ""))


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from `answers`."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give first, then 200
    stall: threading.Event | None = None  # when set: accept, then never answer until released
    stalled: list[Received] = field(default_factory=list)  # what arrived while stalling

    def events(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.event == name]


@contextmanager
def running_receiver():
    """A Receiver serving on 127.0.0.1 for the block."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.stall is not None:
                state.stalled.append(Received(dict(self.headers), body))
                state.stall.wait(30)
                return
            state.requests.append(Received(dict(self.headers), body))
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"thanks" if code < 300 else b"oops")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield state
    finally:
        if state.stall is not None:
            state.stall.set()
        server.shutdown()
        thread.join(timeout=10)


def loopback_settings(settings):
    """Loopback receivers are allowed, and retries come after a second, not minutes."""
    return replace(settings, webhook_allowed_hosts=("127.0.0.1",), webhook_retry_delays=(0, 1, 1))


@pytest.fixture
def receiver():
    with running_receiver() as state:
        yield state


def drain(settings, until=lambda: True, timeout=90.0):
    """Run a burst rq worker on the hooks queue until `until()` holds (retries come later)."""
    deadline = time.monotonic() + timeout
    while True:
        run_worker(settings.redis_url, ["hooks"], burst=True)
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the deliveries did not arrive")
        time.sleep(0.3)


def make_hook(
    github, repo_info, receiver, settings, events=("*",), content_type="json", secret=SECRET
):
    """A hook made through the API, whose creation ping (as GitHub's, whatever its events)
    has arrived and been cleared from `receiver`, so a test sees only what follows."""
    repo = github(repo_info.token).get_repo(f"{repo_info.owner}/{repo_info.name}")
    config = {"url": receiver.url, "content_type": content_type, "secret": secret}
    hook = repo.create_hook("web", config, events=list(events), active=True)
    drain(settings, lambda: receiver.events("ping"))
    [created] = receiver.requests
    assert created.event == "ping" and created.payload()["hook_id"] == hook.id
    receiver.requests.clear()
    return repo, hook


def push_new_commit(git, tmp_path, repo_info, files=None, message="second"):
    work = tmp_path / "work"
    if not work.exists():
        git.run("clone", "-q", repo_info.push_url, str(work))
    sha = git.commit(work, files or {"notes.txt": message + "\n"}, message)
    git.run("push", "-q", "origin", "HEAD:main", cwd=work)
    return work, sha
