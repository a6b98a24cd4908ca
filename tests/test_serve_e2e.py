"""The whole story: `forge serve` runs the embedded Redis, its workers and the web server; people
sign in, create repositories and are kept out of others'; jobs run; SIGTERM stops it all."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys

import psutil
import pytest
import redis
import requests
from conftest import forge_cli, free_port, wait_for
from github import Auth, Github, UnknownObjectException
from rq import Queue
from rq.command import send_stop_job_command

from forge.app import create_app

PASSWORD = "correct horse battery"
HEALTHY = {"status": "ok", "database": "ok", "queue": "ok"}


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def health(base: str):
    try:
        response = requests.get(f"{base}/healthz", timeout=5)
    except (requests.ConnectionError, requests.Timeout):
        return None  # not up yet, or too busy starting to answer within the timeout
    return response if response.status_code == 200 else None


def sign_in(base: str, name: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = browser.post(
        f"{base}/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        timeout=10,
    )
    assert response.status_code == 200 and response.url == f"{base}/", response.text
    assert "Sign out" in response.text
    return browser


def github(base: str, token: str | None) -> Github:
    return Github(
        base_url=f"{base}/api/v3",
        auth=Auth.Token(token) if token else None,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_forge_serve_end_to_end(tmp_path, database_url):
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the embedded Redis
    env["DATABASE_URL"] = database_url
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(home), "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    children: list[psutil.Process] = []

    def output() -> str:
        return (tmp_path / "serve.log").read_text(errors="replace")

    try:
        up = wait_for(
            lambda: server.poll() is not None or health(base), timeout=60, what="forge serve"
        )
        assert server.poll() is None, output()
        assert up.json() == HEALTHY

        cli_env = {"DATABASE_URL": database_url, "REDIS_URL": ""}

        def cli(*args, input=None):
            result = forge_cli(*args, home=home, env=cli_env, input=input)
            assert result.returncode == 0, result.stderr
            return result.stdout.strip()

        for name in ("alice", "bob"):
            cli("user", "create", name, "--email", f"{name}@example.org", "--password-stdin",
                input=PASSWORD + "\n")  # fmt: skip
        alice_token, bob_token = cli("token", "create", "alice"), cli("token", "create", "bob")

        alice = sign_in(base, "alice")
        repo = github(base, alice_token).get_user().create_repo("secret", private=True)
        assert repo.private and repo.html_url == f"{base}/alice/secret"
        assert alice.get(f"{base}/alice/secret", timeout=10).status_code == 200
        assert "alice/secret" in alice.get(f"{base}/", timeout=10).text

        bob = sign_in(base, "bob")
        assert bob.get(f"{base}/alice/secret", timeout=10).status_code == 404
        assert "alice/secret" not in bob.get(f"{base}/alice", timeout=10).text
        for token in (bob_token, None):
            with pytest.raises(UnknownObjectException):
                github(base, token).get_repo("alice/secret")
        assert requests.get(f"{base}/alice/secret", timeout=10).status_code == 404
        assert requests.get(f"{base}/api/v3/repos/alice/secret", timeout=10).status_code == 404

        # A job put on the embedded Redis is run by the worker that `forge serve` started.
        socket = home / "redis" / "redis.sock"
        connection = redis.Redis(unix_socket_path=str(socket))
        # CI jobs have a worker of their own: one that runs for minutes holds up no other job.
        long_ci = Queue("ci", connection=connection).enqueue("time.sleep", 300, job_timeout=600)
        wait_for(lambda: long_ci.get_status(refresh=True) == "started", what="the CI job")
        job = Queue("default", connection=connection).enqueue("forge.jobs.ping", "hello")
        wait_for(lambda: job.get_status(refresh=True) == "finished", what="the ping job")
        assert job.return_value(refresh=True)["payload"] == "hello"
        assert long_ci.get_status(refresh=True) == "started"
        send_stop_job_command(connection, long_ci.id)
        wait_for(lambda: long_ci.get_status(refresh=True) != "started", what="the CI job stop")
        connection.close()

        # A second `forge serve` on the same home refuses, and leaves the first one alone.
        second = forge_cli("serve", "--port", str(free_port()), home=home, env=cli_env)
        assert second.returncode == 2
        assert "is another 'forge serve' using this FORGE_HOME?" in second.stderr
        assert health(base).json() == HEALTHY

        children = psutil.Process(server.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "redis-server" in names and "gunicorn" in names
        assert "worker --queues default,hooks" in names and "worker --queues ci" in names

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, output()
        assert not socket.exists()
        _gone, survivors = psutil.wait_procs(children, timeout=5)
        assert [c for c in survivors if alive(c)] == []
        assert health(base) is None  # nothing answers any more
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for child in children:
            if alive(child):
                child.kill()
        log.close()


def test_healthz_names_the_queue_when_redis_is_unreachable(settings):
    app = create_app(dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0"))
    app.extensions["forge.db"].upgrade()
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "failing: queue",
        "database": "ok",
        "queue": "unavailable",
    }
    app.extensions["forge.db"].dispose()


def test_healthz_names_the_database_when_it_is_unreachable(settings):
    unreachable = "postgresql://u:secretpw@127.0.0.1:1/x"
    app = create_app(dataclasses.replace(settings, database_url=unreachable))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "failing: database"
    assert response.json["queue"] == "ok"
    assert "secretpw" not in response.get_data(as_text=True)


def test_ctrl_c_stops_forge_serve_quietly_after_pages_were_read(tmp_path, database_url, git):
    """Ctrl-C in a terminal sends SIGINT to every process of the foreground group: gunicorn's
    workers too, which then exit holding the repositories their pages opened."""
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DATABASE_URL"] = database_url
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "forge.cli", "--home", str(home), "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as a shell gives a job
        )
    try:
        wait_for(lambda: server.poll() is not None or health(base), timeout=60, what="serve")
        cli_env = {"DATABASE_URL": database_url, "REDIS_URL": ""}
        created = forge_cli(
            *("user", "create", "alice", "--email", "alice@example.org", "--password-stdin"),
            home=home,
            env=cli_env,
            input=PASSWORD + "\n",
        )
        assert created.returncode == 0, created.stderr
        token = forge_cli("token", "create", "alice", home=home, env=cli_env).stdout.strip()
        github(base, token).get_user().create_repo("notes")
        work = git.init(tmp_path / "notes", {"notes.txt": "one\n", "src/a.py": "a = 1\n"})
        for n in range(5):
            git.commit(work, {"notes.txt": f"one\n{n}\n"}, f"Note {n}")
        url = f"http://alice:{token}@127.0.0.1:{port}/alice/notes.git"
        git.run("push", "-q", url, "HEAD:refs/heads/main", cwd=work)
        for page in ("", "/tree/main/src", "/blob/main/notes.txt", "/commits/main",
                     "/blame/main/notes.txt", "/commits/main/notes.txt"):  # fmt: skip
            assert requests.get(f"{base}/alice/notes{page}", timeout=30).status_code == 200

        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=30) == 0
        said = log_path.read_text(errors="replace")
        assert "Traceback" not in said and "Exception ignored" not in said, said
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
