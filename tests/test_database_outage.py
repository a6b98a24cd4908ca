"""The database goes away for a moment, and forge says so: 503 with Retry-After on pages and
the API, a clear message from git (a refused push changes nothing), `/healthz` 503; and once
the database is back the next request works, with no restart.

Nothing is simulated. On PostgreSQL the forge under test reaches its database through a TCP
proxy that the test cuts (every connection reset, new ones refused) and restores. On SQLite,
another connection holds the write lock (`BEGIN EXCLUSIVE`) past a short busy timeout: in WAL
mode readers still read, so what must write answers 503, and everything works once it lets go.
"""

from __future__ import annotations

import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from conftest import EXTERNAL_DATABASE, PASSWORD, csrf_from, wait_for
from sqlalchemy.engine import make_url
from support.tcp_proxy import TcpProxy

from forge.db import RETRY_AFTER

ON_POSTGRES = bool(EXTERNAL_DATABASE) and make_url(EXTERNAL_DATABASE).get_backend_name() == (
    "postgresql"
)
TIMEOUT = 30  # every HTTP call's, in seconds


def signed_in(live_server: str, name: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{live_server}/login", timeout=TIMEOUT)
    token = csrf_from(page.text)
    answer = browser.post(
        f"{live_server}/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 302, answer.text
    return browser


def assert_unavailable_page(answer: requests.Response) -> None:
    assert answer.status_code == 503, answer.text[:500]
    assert answer.headers["Retry-After"] == str(RETRY_AFTER)
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "database is unavailable" in answer.text


def assert_unavailable_api(answer: requests.Response) -> None:
    assert answer.status_code == 503, answer.text[:500]
    assert answer.headers["Retry-After"] == str(RETRY_AFTER)
    body = answer.json()
    assert "database is unavailable" in body["message"]
    assert body["documentation_url"].startswith("https://docs.github.com/")


def remote_main(git, repo, cwd) -> str:
    return git.run("ls-remote", repo.push_url, "refs/heads/main", cwd=cwd).stdout.split()[0]


# --- PostgreSQL: the connection cut -----------------------------------------------------------


@pytest.fixture
def proxy():
    url = make_url(EXTERNAL_DATABASE)
    server = TcpProxy(url.host or "127.0.0.1", url.port or 5432, lifetime=300).start()
    yield server
    server.stop()


@pytest.fixture
def settings(request, settings):
    if "proxy" in request.fixturenames:
        # The app's own URL (a schema of its own) through the proxy; the suite's fixtures
        # still create and drop the schema directly.
        proxy = request.getfixturevalue("proxy")
        url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
        return replace(settings, database_url=url.render_as_string(hide_password=False))
    # SQLite: a write waits this long for the lock, then the request is told to try again.
    return replace(settings, db_busy_timeout_ms=300)


@pytest.mark.skipif(not ON_POSTGRES, reason="the connection cut needs DATABASE_URL on PostgreSQL")
def test_postgres_cut_answers_503_everywhere_and_recovers_without_restart(
    proxy, app, hosted_repo, live_server, git, tmp_path, caplog
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    first = git.head(work)
    second = git.commit(work, {"notes.txt": "more\n"}, "second")
    page_url = f"{live_server}/{repo.owner}/{repo.name}"
    api_url = f"{live_server}/api/v3/repos/{repo.owner}/{repo.name}"
    auth = {"Authorization": f"token {repo.token}"}

    proxy.cut()
    caplog.clear()
    assert_unavailable_page(requests.get(page_url, timeout=TIMEOUT))
    assert_unavailable_api(requests.get(api_url, headers=auth, timeout=TIMEOUT))
    health = requests.get(f"{live_server}/healthz", timeout=TIMEOUT)
    assert health.status_code == 503
    assert health.json()["database"] == "unavailable"

    listed = git.run("ls-remote", repo.push_url, cwd=work, check=False)
    assert listed.returncode != 0
    assert "remote: forge's database is unavailable" in listed.stderr
    assert "503" in listed.stderr
    pushed = git.run("push", repo.push_url, "HEAD:main", cwd=work, check=False)
    assert pushed.returncode != 0
    assert "database is unavailable" in pushed.stderr
    # Logged as what it is, a warning per request, and no 500 traceback.
    outages = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert outages and all(r.levelname == "WARNING" for r in outages)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]

    # Back again: the same requests work at once, from the same app.
    proxy.restore()
    assert requests.get(page_url, timeout=TIMEOUT).status_code == 200
    assert requests.get(api_url, headers=auth, timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{live_server}/healthz", timeout=TIMEOUT).status_code == 200
    assert remote_main(git, repo, work) == first  # the refused push changed nothing
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    assert remote_main(git, repo, work) == second


@pytest.mark.skipif(not ON_POSTGRES, reason="the connection cut needs DATABASE_URL on PostgreSQL")
def test_postgres_cut_while_a_push_is_under_way_is_refused_with_a_remote_line(
    proxy, app, hosted_repo, git, tmp_path
):
    """The push asked for the refs while the database was there; its pack comes after the cut.
    git was told the refs, so it shows the refusal inside its protocol, as `remote:` lines."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    first = git.head(work)
    git.commit(work, {"notes.txt": "more\n"}, "second")
    ready, go = tmp_path / "pre-push-ready", tmp_path / "pre-push-go"
    hook = Path(work) / ".git" / "hooks" / "pre-push"
    # Runs after git read the refs (info/refs) and before it sends the pack; waits at most 60 s.
    hook.write_text(
        f"#!/bin/sh\ntouch '{ready}'\n"
        f"for i in $(seq 600); do [ -e '{go}' ] && exit 0; sleep 0.1; done\nexit 1\n"
    )
    hook.chmod(0o755)
    pusher = subprocess.Popen(
        ["git", "push", repo.push_url, "HEAD:main"],
        cwd=work,
        env=git.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(ready.exists, timeout=60, what="git to ask for the refs")
        proxy.cut()
        go.touch()
        _out, err = pusher.communicate(timeout=60)
    finally:
        if pusher.poll() is None:
            pusher.kill()
            pusher.communicate()
    assert pusher.returncode != 0
    assert "remote: forge's database is unavailable; nothing was changed" in err
    assert "[remote rejected] HEAD -> main (try again later)" in err

    proxy.restore()
    hook.unlink()
    assert remote_main(git, repo, work) == first


# --- SQLite: the write lock held ----------------------------------------------------------


@pytest.fixture
def write_lock(settings):
    """Another connection holding SQLite's write lock; release() lets go."""
    path = make_url(settings.database_url).database
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)

    class Lock:
        @staticmethod
        def take():
            holder.execute("BEGIN EXCLUSIVE")

        @staticmethod
        def release():
            if holder.in_transaction:
                holder.execute("ROLLBACK")

    yield Lock
    Lock.release()
    holder.close()


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's write lock; the suite runs on PostgreSQL")
def test_sqlite_locked_answers_503_to_writes_and_recovers_once_released(
    app, write_lock, hosted_repo, make_token, live_server, git, tmp_path, caplog
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    first = git.head(work)
    second = git.commit(work, {"notes.txt": "more\n"}, "second")
    browser = signed_in(live_server, repo.owner)
    new_page = f"{live_server}/new"
    form = {"name": "locked", "visibility": "public", "default_branch": "main"}
    api_url = f"{live_server}/api/v3/user/repos"
    auth = {"Authorization": f"token {repo.token}"}

    write_lock.take()
    caplog.clear()
    token = csrf_from(browser.get(new_page, timeout=TIMEOUT).text)  # reading still works
    created = browser.post(
        new_page, data={**form, "csrf_token": token}, allow_redirects=False, timeout=TIMEOUT
    )
    assert_unavailable_page(created)
    assert_unavailable_api(
        requests.post(api_url, json={"name": "locked-api"}, headers=auth, timeout=TIMEOUT)
    )
    pushed = git.run("push", repo.push_url, "HEAD:main", cwd=work, check=False)
    assert pushed.returncode != 0
    assert "remote: forge's database is unavailable; nothing was changed" in pushed.stderr
    assert "[remote rejected] HEAD -> main (rejected)" in pushed.stderr
    assert remote_main(git, repo, work) == first  # moved back: the push was not recorded
    # Reads go on (WAL), and so does /healthz: the database answers, only writes wait.
    assert requests.get(f"{live_server}/healthz", timeout=TIMEOUT).status_code == 200
    outages = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outages) == 3 and all(r.levelname == "WARNING" for r in outages)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]

    # Let go: the same requests work, from the same app, and nothing of the first tries stuck.
    write_lock.release()
    created = browser.post(
        new_page, data={**form, "csrf_token": token}, allow_redirects=False, timeout=TIMEOUT
    )
    assert created.status_code == 302, created.text[:500]
    answer = requests.post(api_url, json={"name": "locked-api"}, headers=auth, timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    assert remote_main(git, repo, work) == second
    assert requests.get(f"{live_server}/healthz", timeout=TIMEOUT).status_code == 200
