"""`forge serve`: one process that supervises the embedded Redis, the workers and the web
server.

The web server is gunicorn (threaded workers); the job workers are two `forge worker`
processes, one for webhooks and the merge queue (`default,hooks`), one for CI jobs (`ci`, with
the CI reconciler beside it). Each is a child process; SIGTERM or SIGINT stops all of them,
web server first, Redis last.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from forge.config import Settings
from forge.procs import die_with_parent
from forge.queue.embedded import EmbeddedRedis


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int):
        self.settings = settings
        self.host, self.port = host, port
        self.redis: EmbeddedRedis | None = None
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.environment())
        env["REDIS_URL"] = self.settings.redis_url if self.redis is None else self.redis.url
        # Web and job workers add up their metrics there (forge.metrics).
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        # glibc gives each thread its own malloc arena and rarely hands memory back; with 8
        # threads a web worker kept tens of MB it no longer used after a busy minute.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        return env

    @property
    def metrics_dir(self):
        return self.settings.home / "metrics"

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.settings.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child)
        out = None if name == "web" else log
        self.children[name] = subprocess.Popen(
            argv,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=die_with_parent,
        )

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            if self.settings.redis_embedded:
                self.redis = EmbeddedRedis(self.settings.redis_dir)
                self.redis.start()
            # The files of the processes of a previous run would be counted with this run's,
            # and would pile up: counters start again from zero, as Prometheus expects.
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir.mkdir()
            # CI jobs run for minutes (up to their timeout); in a worker of their own they
            # never hold webhook deliveries or the merge queue's steps behind them.
            self._spawn("worker", self._worker_argv("default,hooks"))
            self._spawn("ci-worker", self._worker_argv("ci"))
            self._spawn("web", self._gunicorn_argv())
            print(
                f"forge {self._version()} serving http://{self.host}:{self.port}/ "
                f"(home {self.settings.home}); Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )
            return self._watch()
        finally:
            self._stop_all()

    def _worker_argv(self, queues: str) -> list[str]:
        home = str(self.settings.home)
        return [sys.executable, "-m", "forge.cli", "--home", home, "worker", "--queues", queues]

    def _gunicorn_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{self.host}:{self.port}",
            "--workers",
            str(self.settings.web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            # gunicorn closes a kept-alive connection idle for 2 s by default; under load its
            # main loop sees a client's next request late and closed it with the request
            # unread (connection reset). 30 s, as long as a browser would wait anyway.
            "--keep-alive",
            "30",
            "--access-logfile",
            str(self.settings.logs_dir / "access.log"),
            "--error-logfile",
            "-",
            "--no-control-socket",
            "--config",
            "python:forge.web.gunicorn_config",
            "forge.app:create_app()",
        ]

    def _watch(self) -> int:
        while not self.stopping:
            for name, proc in self.children.items():
                code = proc.poll()
                if code is not None and not self.stopping:
                    print(f"forge: {name} exited with code {code}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0

    def _on_signal(self, signum, _frame) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        for name in ("web", "worker", "ci-worker"):
            proc = self.children.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None:
            self.redis.stop()

    @staticmethod
    def _version() -> str:
        from forge.version import __version__

        return __version__
