"""Fixtures that start real parts: the app on a temporary FORGE_HOME, a real Redis, a real
database (SQLite by default, PostgreSQL when DATABASE_URL is set), and a live HTTP server.

The suite runs on the embedded default unless DATABASE_URL / REDIS_URL are set, in which case
every test gets a fresh PostgreSQL schema of its own and the shared Redis is flushed per test.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
import requests
from github import Auth, Github
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from forge.accounts import users as accounts
from forge.app import create_app
from forge.config import LoginLimits, Settings
from forge.queue.embedded import EmbeddedRedis

# Fixtures more than one test module uses live in tests/support/, once; listed here, every test
# can name them without importing them (test modules never import each other).
pytest.register_assert_rewrite("support")
pytest_plugins = [
    "support.browser",
    "support.ci",
    "support.gerrit",
    "support.mail",
    "support.webhooks",
]

EXTERNAL_DATABASE = os.environ.get("DATABASE_URL", "").strip()
EXTERNAL_REDIS = os.environ.get("REDIS_URL", "").strip()
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory, worker_id):
    if EXTERNAL_REDIS:
        # Tests flush their database; parallel workers (pytest-xdist) each get their own:
        # the one REDIS_URL names, then the next ones.
        parts = urlsplit(EXTERNAL_REDIS)
        base = int(parts.path.strip("/") or 0)
        number = base + (0 if worker_id == "master" else int(worker_id.removeprefix("gw")))
        yield urlunsplit(parts._replace(path=f"/{number}"))
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def clean_redis(redis_url):
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield redis_url
    connection.close()


@contextmanager
def postgres_schema(prefix: str):
    """A schema of its own in DATABASE_URL's PostgreSQL, for the block: its URL."""
    schema = prefix + secrets.token_hex(6)
    admin = create_engine(EXTERNAL_DATABASE)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in EXTERNAL_DATABASE else "?"
    try:
        yield f"{EXTERNAL_DATABASE}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path):
    if not EXTERNAL_DATABASE:
        yield f"sqlite:///{tmp_path / 'forge.db'}"
        return
    with postgres_schema("test_") as url:
        yield url


@pytest.fixture
def settings(tmp_path, database_url, clean_redis) -> Settings:
    home = tmp_path / "home"
    return Settings(
        home=home,
        database_url=database_url,
        redis_url=clean_redis,
        redis_embedded=False,
        secret_key="test-secret-key",
        # Tight limits so throttling can be seen within a test.
        login_limits=LoginLimits(per_user=5, per_ip=8),
    )


@pytest.fixture
def app(settings):
    application = create_app(settings)
    application.config["TESTING"] = True
    database = application.extensions["forge.db"]
    database.upgrade()
    yield application
    database.dispose()


@pytest.fixture
def database(app):
    return app.extensions["forge.db"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(database):
    def make(name: str, admin: bool = False, password: str = PASSWORD, email: str | None = None):
        with database.session() as session:
            user = accounts.create_user(
                session, name, email or f"{name.lower()}@example.org", password, is_admin=admin
            )
            user.is_admin = admin  # the first account is made admin; tests say what they want
        return user

    return make


@pytest.fixture
def make_token(database):
    def make(user_name: str, scopes: str | None = None) -> str:
        with database.session() as session:
            user = accounts.get_user(session, user_name)
            _row, secret = accounts.create_token(session, user, "test", scopes)
        return secret

    return make


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture
def login(client):
    def sign_in(name: str, password: str = PASSWORD, test_client=None):
        c = test_client or client
        token = csrf_from(c.get("/login").get_data(as_text=True))
        response = c.post(
            "/login", data={"username": name, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return c

    return sign_in


def form_post(client, page_url: str, action: str, data: dict, **kwargs):
    """Load a page, take its CSRF token, and post a form the way a browser would."""
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **data}, **kwargs)


@pytest.fixture
def live_server(app):
    """The app on a real socket on 127.0.0.1, for real clients (git, PyGithub, a browser)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for it, and every test using this fixture stops it.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def forge_cli(*args, home: Path, env: dict | None = None, input: str | None = None, timeout=60):
    """Run the installed `forge` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "forge.cli", "--home", str(home), *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- git ----------------------------------------------------------------------------------


class Git:
    """The real `git` command line, isolated from the machine's own configuration."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "HOME": str(home),
            "PATH": os.environ["PATH"],
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.org",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "author@example.org",
            "LANG": "C",
        }
        (home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[protocol]\n\tversion = 2\n"
            "[advice]\n\tdetachedHead = false\n"
        )

    def run(self, *args, cwd=None, check=True, timeout=120, input=None):
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def init(self, path: Path, files: dict[str, str] | None = None, message="first") -> Path:
        self.run("init", "-q", str(path))
        self.commit(path, files or {"README.md": "# hello\n"}, message)
        return path

    def commit(self, path: Path, files: dict[str, str], message: str) -> str:
        for name, content in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.run("add", "-A", cwd=path)
        self.run("commit", "-q", "-m", message, cwd=path)
        return self.head(path)

    def head(self, path: Path, ref: str = "HEAD") -> str:
        return self.run("rev-parse", ref, cwd=path).stdout.strip()

    def install_change_id_hook(self, path: Path) -> None:
        """forge's commit-msg hook (what /tools/hooks/commit-msg serves and `git review -s`
        installs) in a clone, so its commits carry the Change-Id that refs/for/* needs."""
        from forge.review.commit_msg_hook import HOOK

        hook = Path(self.run("rev-parse", "--git-path", "hooks", cwd=path).stdout.strip())
        hook = (path / hook if not hook.is_absolute() else hook) / "commit-msg"
        hook.parent.mkdir(parents=True, exist_ok=True)
        hook.write_text(HOOK)
        hook.chmod(0o755)

    def change_id_trailer(self, path: Path, ref: str = "HEAD") -> str:
        """The `Change-Id: I...` line of a commit, to keep it in an amend with a new message."""
        message = self.run("log", "-1", "--format=%B", ref, cwd=path).stdout
        return next(line for line in message.splitlines() if line.startswith("Change-Id: "))


@pytest.fixture
def git(tmp_path) -> Git:
    return Git(tmp_path / "git-home")


def authed(url: str, user: str, secret: str) -> str:
    """`http://user:secret@host/...` for git remotes."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(secret, safe='')}@{rest}"


@pytest.fixture
def hosted_repo(live_server, make_user, make_token, database, settings):
    """Make a user and a repository on the live server; returns what a test needs of them."""

    def make(owner="alice", name="project", private=False):
        from forge.repos import repositories as repo_service

        with database.session() as session:
            user = accounts.find_user(session, owner)
        if user is None:
            make_user(owner)
        token = make_token(owner)
        with database.session() as session:
            user = accounts.get_user(session, owner)
            repo_service.create_repository(session, settings.repos_dir, user, name, private=private)
        url = f"{live_server}/{owner}/{name}.git"
        return HostedRepo(
            owner=owner, name=name, url=url, token=token, push_url=authed(url, owner, token)
        )

    return make


# --- the REST API ---------------------------------------------------------------------------


@pytest.fixture
def api(live_server):
    """Call the API with plain HTTP: api("GET", "/user", token) -> requests.Response."""

    def call(method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        return requests.request(
            method, f"{live_server}/api/v3{path}", headers=headers, timeout=30, **kwargs
        )

    return call


@pytest.fixture
def github(live_server):
    """A PyGithub client for a token (None: anonymous), without github.com's request pacing."""

    def connect(token: str | None, **kwargs) -> Github:
        return Github(
            base_url=live_server + "/api/v3",
            auth=Auth.Token(token) if token else None,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            **kwargs,
        )

    return connect


@dataclass
class HostedRepo:
    owner: str
    name: str
    url: str  # without credentials, as an anonymous reader uses it
    token: str  # the owner's token (every scope)
    push_url: str  # with the owner's token in it
