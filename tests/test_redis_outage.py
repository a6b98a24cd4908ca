"""Redis stops, and forge keeps its word: pages and git keep working, a push made meanwhile is
reported as what it is (done), and the work that must follow it (its webhook) waits in the
outbox and is sent once Redis is back.

Nothing is simulated: the forge under test has a Redis of its own (an embedded one on a Unix
socket), which the test stops and starts again.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
from conftest import PASSWORD, forge_cli
from sqlalchemy import update
from support.webhooks import drain, loopback_settings, make_hook, push_new_commit

from forge import outbox
from forge.db import utcnow
from forge.models import OutboxMessage
from forge.queue.embedded import EmbeddedRedis


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings, own_redis):
    return loopback_settings(replace(settings, redis_url=own_redis.url))


def test_a_push_while_redis_is_down_lands_says_so_and_its_webhook_follows(
    own_redis, settings, database, hosted_repo, github, receiver, git, tmp_path, live_server
):
    repo = hosted_repo()
    first = git.init(tmp_path / "first", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=first)
    make_hook(github, repo, receiver, settings, events=["push"])
    own_redis.stop()

    # Git and pages keep working, and the push is reported done because it is.
    work, sha = push_new_commit(git, tmp_path, repo)
    heads = git.run("ls-remote", repo.push_url, "refs/heads/main", cwd=work)
    assert heads.stdout.split()[0] == sha
    page = requests.get(f"{live_server}/alice/project", timeout=30)
    assert page.status_code == 200
    api = requests.get(f"{live_server}/api/v3/repos/alice/project", timeout=30,
                       headers={"Authorization": f"token {repo.token}"})  # fmt: skip
    assert api.status_code == 200 and api.json()["full_name"] == "alice/project"
    anonymous = requests.get(f"{live_server}/api/v3/repos/alice/project", timeout=30)
    assert anonymous.status_code == 200
    signing_in = requests.Session()
    form = signing_in.get(f"{live_server}/login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text).group(1)
    signed = signing_in.post(f"{live_server}/login", timeout=30, allow_redirects=False,
                             data={"csrf_token": token, "username": "alice",
                                   "password": PASSWORD})  # fmt: skip
    assert signed.status_code == 302, signed.text[:500]
    with database.session() as session:
        assert outbox.waiting(session) >= 1  # the delivery's first try, kept for later

    own_redis.start()
    # The relay leaves young rows to the process that wrote them; these are aged as if the
    # outage had lasted a minute, then `forge ci reconcile` (the reconciler's pass) sends them.
    with database.session() as session:
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=1)))
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    done = forge_cli("ci", "reconcile", home=settings.home, env=env)
    assert done.returncode == 0, done.stderr
    drain(settings, lambda: receiver.events("push"))
    [push] = receiver.events("push")
    assert push.payload()["after"] == sha
    with database.session() as session:
        assert outbox.waiting(session) == 0
