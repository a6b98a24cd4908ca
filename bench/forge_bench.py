"""Starting forge for a benchmark: a fresh FORGE_HOME with a user and a token, the embedded
Redis, and forge's web app under gunicorn as `forge serve` runs it (2 workers x 8 threads).

Shared by the benchmarks so that each measures forge started the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FORGE = [sys.executable, "-m", "forge.cli"]
# The git client's environment in every benchmark: no prompts, no system config, one author.
GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class ForgeHome:
    home: Path
    env: dict
    token: str  # of the user "bench", every scope
    redis: object  # the embedded Redis, started

    def stop(self) -> None:
        self.redis.stop()


def create_home(root: Path) -> ForgeHome:
    """A new FORGE_HOME on SQLite with the user "bench" and the embedded Redis running."""
    from forge.queue.embedded import EmbeddedRedis

    home = root / "forge-home"
    # As `forge serve` starts its children (see forge/server.py).
    env = {**os.environ, "FORGE_HOME": str(home), "MALLOC_ARENA_MAX": "2"}
    # A benchmark's thousands of calls with one token would run into the API's hourly limit.
    env["FORGE_API_RATE_LIMIT"] = "100000000"
    # Real histories are imported as a site imports them, without push protection (their own
    # tests' fake credentials are refused by it); bench/push_protection.py measures it.
    env.setdefault("FORGE_PUSH_PROTECTION", "off")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([*FORGE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*FORGE, "user", "create", "bench", "--email", "bench@example.org", "--password-stdin"],
        input=b"bench-password\n",
        env=env,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [*FORGE, "token", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    redis_server = EmbeddedRedis(home / "redis")
    redis_server.start()
    env["REDIS_URL"] = redis_server.url
    return ForgeHome(home, env, token, redis_server)


def start_web(env: dict, port: int, timeout: int = 300) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            *[sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
            *["--workers", "2", "--worker-class", "gthread", "--threads", "8"],
            *["--timeout", str(timeout), "--no-control-socket", "--log-level", "warning"],
            *["--config", "python:forge.web.gunicorn_config"],
            "forge.app:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_until_up(port)
    return process


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
