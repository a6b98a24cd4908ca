"""The `forge` command, run as a subprocess the way an operator would run it."""

from __future__ import annotations

import contextlib

import pytest
from conftest import forge_cli
from sqlalchemy import select

from forge.db import Database
from forge.models import AccessToken, User
from forge.version import __version__

PASSWORD = "password\n"


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def cli(home, database_url):
    """Run `forge --home HOME ...` against the test's database."""

    def run(*args, input: str | None = None, env: dict | None = None, at=None):
        return forge_cli(
            *args,
            home=at or home,
            env={"DATABASE_URL": database_url, **(env or {})},
            input=input,
        )

    return run


@pytest.fixture
def ready(cli, home):
    """A home whose database has been created with `forge db upgrade`."""
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    return home


@pytest.fixture
def rows(database_url):
    """What the database holds: user names and the number of tokens."""

    def read() -> tuple[list[str], int]:
        database = Database(database_url)
        try:
            with database.session() as session:
                names = sorted(session.scalars(select(User.name)))
                tokens = len(session.scalars(select(AccessToken.id)).all())
        finally:
            database.dispose()
        return names, tokens

    return read


def assert_refused(result, *, mentions: str = "") -> str:
    """Exit code 2 and exactly one line on stderr, naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("forge: error: ")
    assert mentions in lines[0]
    assert result.stdout == ""
    return lines[0]


def api_user(client, token: str):
    return client.get("/api/v3/user", headers={"Authorization": f"token {token}"})


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"forge, version {__version__}"


def test_db_upgrade_creates_the_home_and_the_schema(cli, home, database_url):
    assert not home.exists()
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert home.is_dir()
    assert (home / "repos").is_dir() and (home / "secret_key").is_file()
    assert (home / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    database = Database(database_url)
    assert database.is_current()
    database.dispose()
    again = cli("db", "upgrade")
    assert again.returncode == 0, again.stderr


def test_user_and_token_create_give_a_token_that_works(cli, ready, client, rows):
    made = cli(
        "user",
        "create",
        "alice",
        "--email",
        "alice@example.org",
        "--password-stdin",
        input=PASSWORD,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == ""
    assert rows() == (["alice"], 0)

    result = cli("token", "create", "alice")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("forge_")
    response = api_user(client, lines[0])
    assert response.status_code == 200
    assert response.json["login"] == "alice"
    assert response.json["site_admin"] is True  # the first account administers the forge
    assert "site_admin" in response.headers["X-OAuth-Scopes"]


def test_the_password_from_stdin_is_the_one_that_signs_in(cli, ready, client, login):
    cli("user", "create", "root", "--email", "r@example.org", "--password-stdin", input=PASSWORD)
    made = cli(
        "user", "create", "bob", "--email", "b@example.org", "--password-stdin",
        input="bobs password\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    login("bob", "bobs password")
    assert "Sign out" in client.get("/").get_data(as_text=True)


def test_token_scopes_are_respected(cli, ready, client, rows):
    cli("user", "create", "alice", "--email", "a@example.org", "--password-stdin", input=PASSWORD)
    result = cli("token", "create", "alice", "--scopes", "repo,user", "--label", "deploy")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert api_user(client, token).headers["X-OAuth-Scopes"] == "repo, user"
    headers = {"Authorization": f"token {token}"}
    assert client.post("/api/v3/user/repos", json={"name": "x"}, headers=headers).status_code == 201
    assert client.delete("/api/v3/repos/alice/x", headers=headers).status_code == 403

    refused = cli("token", "create", "alice", "--scopes", "repo,everything")
    assert_refused(refused, mentions="unknown scope 'everything'")
    assert rows() == (["alice"], 1)


def test_a_plain_user_cannot_get_an_admin_scope(cli, ready, rows):
    cli("user", "create", "root", "--email", "r@example.org", "--password-stdin", input=PASSWORD)
    cli("user", "create", "bob", "--email", "b@example.org", "--password-stdin", input=PASSWORD)
    assert_refused(cli("token", "create", "bob", "--scopes", "site_admin"), mentions="bob")
    assert rows() == (["bob", "root"], 0)


def test_bad_user_input_exits_2_with_one_line_and_writes_nothing(cli, ready, rows):
    cli("user", "create", "alice", "--email", "a@example.org", "--password-stdin", input=PASSWORD)
    before = rows()
    for name, password, mentions in [
        ("ALICE", PASSWORD, "already exists"),
        ("-bad", PASSWORD, "invalid name"),
        ("a b", PASSWORD, "invalid name"),
        ("Settings", PASSWORD, "reserved"),
        ("carol", "short\n", "at least 8 characters"),
    ]:
        result = cli(
            "user", "create", "--email", "x@example.org", "--password-stdin", "--", name,
            input=password,
        )  # fmt: skip
        assert_refused(result, mentions=mentions)
        assert rows() == before, name


def test_usage_errors_are_one_line_too(cli, ready, rows):
    assert_refused(cli("user", "create", "bob"), mentions="Missing option '--email'")
    assert_refused(cli("user", "create", "-bob", "--email", "b@x.org"), mentions="No such option")
    assert_refused(cli("frobnicate"), mentions="No such command 'frobnicate'")
    no_password = cli("user", "create", "bob", "--email", "b@example.org", input="")
    assert_refused(no_password, mentions="--password-stdin")
    assert rows() == ([], 0)


def test_a_bad_email_is_refused(cli, ready, rows):
    result = cli(
        "user", "create", "alice", "--email", "not-an-email", "--password-stdin", input=PASSWORD
    )
    assert_refused(result, mentions="invalid email address")
    assert rows() == ([], 0)


def test_a_missing_home_is_refused_and_not_created(cli, tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    result = cli(
        "user", "create", "alice", "--email", "a@example.org", "--password-stdin",
        input=PASSWORD, at=missing,
    )  # fmt: skip
    assert_refused(result, mentions=f"FORGE_HOME {missing} does not exist")
    assert not missing.exists() and not missing.parent.exists()

    absolute = cli(
        "user", "create", "alice", "--email", "a@example.org", "--password-stdin",
        input=PASSWORD, at="/nonexistent/dir",
    )  # fmt: skip
    assert_refused(absolute, mentions="/nonexistent/dir does not exist")
    assert not (tmp_path / "nonexistent").exists()


UNREACHABLE = "postgresql://u:secretpw@127.0.0.1:1/x"


def test_an_unreachable_database_is_named_without_its_password(cli, ready, home, tmp_path):
    env = {"DATABASE_URL": UNREACHABLE}
    attempts = [
        cli("user", "create", "alice", "--email", "a@example.org", "--password-stdin",
            input=PASSWORD, env=env),
        cli("token", "create", "alice", env=env),
    ]  # fmt: skip
    for result in attempts:
        line = assert_refused(result, mentions="cannot connect to database")
        assert "127.0.0.1:1" in line
        assert "secretpw" not in result.stderr + result.stdout

    fresh = tmp_path / "fresh"
    result = cli("db", "upgrade", env=env, at=fresh)
    assert_refused(result, mentions="cannot connect to database")
    assert "secretpw" not in result.stderr
    assert not fresh.exists()  # a typo in DATABASE_URL creates no home


def test_a_token_for_an_unknown_user_is_refused(cli, ready, rows):
    assert_refused(cli("token", "create", "ghost"), mentions="no user named 'ghost'")
    assert rows() == ([], 0)


def test_a_stale_schema_is_refused_until_upgraded(cli, home, tmp_path, rows):
    home.mkdir()
    result = cli("token", "create", "alice")
    assert_refused(result, mentions="forge db upgrade")


def test_worker_refuses_an_unknown_queue(cli, ready):
    assert_refused(cli("worker", "--queues", "default,nope"), mentions="unknown queue 'nope'")
    assert_refused(cli("worker", "--queues", ","), mentions="unknown queue")


def test_worker_runs_jobs_in_burst_mode(cli, ready, clean_redis):
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(clean_redis)
    job = Queue("default", connection=connection).enqueue("forge.jobs.ping", "hello")
    result = cli("worker", "--burst", "--queues", "default", env={"REDIS_URL": clean_redis})
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.return_value()["payload"] == "hello"
    connection.close()


def test_worker_without_redis_says_where_it_looked(cli, ready):
    result = cli("worker", "--burst", env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert_refused(result, mentions="cannot reach Redis")


def forge_after(*args, env: dict, input: str | None = None, cwd=None, timeout: int = 60):
    """Run `forge CMD ... --home DIR` as users type it: the option after the command."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "forge.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=timeout,
    )


def leaf_commands(group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += leaf_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_every_command_takes_home_after_its_name(tmp_path):
    """Each command's own --help offers --home (forge.cli's one home_option), so a command
    added without it shows here, not when a user types `forge NEW --home DIR`."""
    from forge.cli import main

    commands = leaf_commands(main)
    assert ("serve",) in commands and ("ci", "reconcile") in commands  # the tree was walked
    for command in commands:
        shown = forge_after(*command, "--help", env={}, cwd=tmp_path)
        assert shown.returncode == 0, (command, shown.stderr)
        assert "--home DIRECTORY" in shown.stdout, (command, shown.stdout)


def test_worker_reconcile_backup_and_restore_take_home_after_the_command(
    home, tmp_path, database_url, clean_redis, rows
):
    """In an empty directory (no ./instance to fall back on), each finds the home given
    after its name: the worker and the reconciler run, backup reads it, restore fills one."""
    from conftest import EXTERNAL_DATABASE, postgres_schema

    env = {"DATABASE_URL": database_url, "REDIS_URL": clean_redis}
    here = tmp_path / "elsewhere"
    here.mkdir()
    assert forge_after("db", "upgrade", "--home", str(home), env=env, cwd=here).returncode == 0
    created = forge_after(
        "user", "create", "alice", "--email", "a@example.org", "--password-stdin",
        "--home", str(home), env=env, input=PASSWORD, cwd=here,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    worked = forge_after(
        "worker", "--burst", "--queues", "default", "--home", str(home), env=env, cwd=here
    )
    assert worked.returncode == 0, worked.stderr
    reconciled = forge_after("ci", "reconcile", "--home", str(home), env=env, cwd=here)
    assert reconciled.returncode == 0, reconciled.stderr
    archive = tmp_path / "backup.tar.gz"
    backed_up = forge_after(
        "backup", str(archive), "--home", str(home), env=env, cwd=here, timeout=300
    )
    assert backed_up.returncode == 0, backed_up.stderr
    assert archive.stat().st_size > 0

    restored_home = tmp_path / "restored"
    with contextlib.ExitStack() as stack:
        # The restore goes into a new, empty database: a schema of its own on PostgreSQL.
        url = stack.enter_context(postgres_schema("restore_")) if EXTERNAL_DATABASE else ""
        restored = forge_after(
            "restore", str(archive), "--home", str(restored_home),
            env={"DATABASE_URL": url}, cwd=here, timeout=300,
        )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        database = Database(url or f"sqlite:///{restored_home / 'forge.db'}")
        try:
            with database.session() as session:
                assert list(session.scalars(select(User.name))) == ["alice"]
        finally:
            database.dispose()
    assert not (here / "instance").exists()


def test_home_after_the_command_is_the_home_used(home, database_url, rows):
    env = {"DATABASE_URL": database_url}
    upgraded = forge_after("db", "upgrade", "--home", str(home), env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (home / "secret_key").exists()
    created = forge_after(
        "user", "create", "alice", "--email", "a@example.org", "--password-stdin",
        "--home", str(home), env=env, input=PASSWORD,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert forge_after("token", "create", "alice", "--home", str(home), env=env).stdout.strip()
    assert rows() == (["alice"], 1)
    gc = forge_after("gc", "--home", str(home), env=env)
    assert gc.returncode == 0 and "removed 0 leftover" in gc.stderr


def test_a_bad_home_after_the_command_is_one_line(home, tmp_path, database_url):
    env = {"DATABASE_URL": database_url}
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert_refused(forge_after("gc", "--home", str(a_file), env=env), mentions="--home")
    missing = tmp_path / "nonexistent" / "dir"
    assert_refused(forge_after("gc", "--home", str(missing), env=env), mentions="does not exist")
    twice = forge_after("--home", str(home), "db", "upgrade", "--home", str(tmp_path), env=env)
    assert_refused(twice, mentions="given twice")
    assert not home.exists()


def test_forge_serve_takes_home_after_the_command(home, database_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import requests
    from conftest import free_port, wait_for

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the embedded Redis
    env["DATABASE_URL"] = database_url
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "serve", "--home", str(home), "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def healthy():
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        wait_for(lambda: server.poll() is not None or healthy(), timeout=60, what="forge serve")
        assert server.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
        assert (home / "redis" / "redis.sock").exists()  # the home given after `serve`
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
