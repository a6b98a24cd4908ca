"""`forge gc`: what a push cut short left behind, its quarantine (objects/incoming-*), is
removed once nothing has changed in it for an hour, never sooner (a push may still be under
way); workers of the default queue do the same during their upkeep.

A push whose *client* dies leaves nothing: the server's read fails and the quarantine is
removed on the way out. What leaves one behind is the server process dying mid-push (kill -9,
a gunicorn worker timeout, the OOM killer), so the end-to-end test runs the web server as
gunicorn in a child process and kills its worker while a real `git push` is half sent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests
from conftest import authed, forge_cli, free_port, wait_for

from forge.accounts import users as accounts
from forge.git.maintenance import remove_stale_quarantines
from forge.repos import repositories as repo_service
from forge.worker import RECONCILERS

HOUR = 3600


def _age(folder: Path, seconds: float) -> None:
    """Make `folder` and everything in it look untouched for `seconds`: the test cannot wait an
    hour, and mtimes are what maintenance judges a quarantine's age by."""
    then = time.time() - seconds
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.utime(os.path.join(root, name), (then, then))
    os.utime(folder, (then, then))


def _quarantine(repo: Path, name: str = "incoming-test") -> Path:
    folder = repo / "objects" / name
    (folder / "pack").mkdir(parents=True)
    (folder / "pack" / "tmp_pack_x").write_bytes(b"PACK" + b"\0" * 100)
    return folder


# --- a real push killed mid-transfer ------------------------------------------------------


class SlowForwarder:
    """A TCP forwarder to `port` that passes the client's bytes on at `rate` bytes a second:
    a push of a few megabytes then takes seconds, time enough to kill the server mid-pack."""

    def __init__(self, port: int, rate: int):
        self.target, self.rate = port, rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        # Accepting polls, and only the accepting thread closes the listener: a socket closed
        # under a thread blocked in accept() stays listening for that thread, and once took a
        # later test's connection on a reused port.
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        with self.listener:
            while not self.closed:
                try:
                    client, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                client.settimeout(None)
                self._forward(client)

    def _forward(self, client):
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()  # the server is gone (killed by the test): so is this connection
            return
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source, sink, slow: bool):
        step = 16384
        try:
            while data := source.recv(step):
                sink.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            # Closed, not only shut down: git, still sending, is told at once (a reset).
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self):
        self.closed = True
        self.thread.join(timeout=10)


def _gunicorn(settings, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "FORGE_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--worker-class", "gthread", "--threads", "4", "--timeout", "120",
            "forge.app:create_app()"]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def _up(base: str):
    try:
        return requests.get(f"{base}/healthz", timeout=5).status_code
    except requests.RequestException:
        return None


def test_push_killed_mid_transfer_leaves_a_quarantine_gc_removes_once_old(
    git, make_user, make_token, database, settings, tmp_path
):
    make_user("alice")
    token = make_token("alice")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        repo_service.create_repository(session, settings.repos_dir, owner, "project")
    bare = settings.repos_dir / "alice" / "project.git"
    port = free_port()
    log = tmp_path / "gunicorn.log"
    server = _gunicorn(settings, port, log)
    forwarder = SlowForwarder(port, rate=1024 * 1024)
    try:
        wait_for(lambda: server.poll() is not None or _up(f"http://127.0.0.1:{port}"),
                 timeout=60, what="gunicorn")  # fmt: skip
        assert server.poll() is None, log.read_text()
        direct = authed(f"http://127.0.0.1:{port}/alice/project.git", "alice", token)
        slow = authed(f"http://127.0.0.1:{forwarder.port}/alice/project.git", "alice", token)

        work = git.init(tmp_path / "work")
        git.run("push", direct, "main", cwd=work)
        before = git.head(work)
        for i in range(4):  # random, so the pack is as large as the files: 8 MB, 8 s
            (work / f"big-{i}.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        git.run("add", "-A", cwd=work)
        git.run("commit", "-q", "-m", "large", cwd=work)

        def start_push():
            return subprocess.Popen(
                ["git", "push", slow, "main"], cwd=work, env=git.env, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip

        def receiving():
            return [
                q for q in (bare / "objects").glob("incoming-*")
                if any(p.stat().st_size > 0 for p in q.glob("tmp_pack_*"))
            ]  # fmt: skip

        # The pusher killed mid-pack: the server notices and removes the quarantine itself.
        push = start_push()
        wait_for(receiving, timeout=60, interval=0.02, what="the push's quarantine")
        os.killpg(push.pid, signal.SIGKILL)  # git and its helpers (remote-http, pack-objects)
        push.communicate(timeout=60)
        wait_for(lambda: not list((bare / "objects").glob("incoming-*")), timeout=60,
                 what="the server to remove the quarantine")  # fmt: skip

        # The server killed mid-pack: nothing is left to remove it.
        push = start_push()
        leftover = wait_for(receiving, timeout=60, interval=0.02, what="the push's quarantine")[0]
        (worker,) = psutil.Process(server.pid).children()
        os.kill(worker.pid, signal.SIGKILL)  # the web worker dies mid-pack
        _out, err = push.communicate(timeout=60)
        assert push.returncode != 0, err
        assert leftover.is_dir()  # nothing else will ever remove it

        # Young: a push may still be writing it, so it stays.
        young = forge_cli("gc", home=settings.home, env={"DATABASE_URL": settings.database_url})
        assert young.returncode == 0, young.stderr
        assert young.stdout == "" and "removed 0" in young.stderr
        assert leftover.is_dir()

        _age(leftover, 2 * HOUR)
        old = forge_cli("gc", home=settings.home, env={"DATABASE_URL": settings.database_url})
        assert old.returncode == 0, old.stderr
        assert old.stdout.splitlines() == [f"removed {leftover}"]
        assert "removed 1" in old.stderr
        assert not list((bare / "objects").glob("incoming-*"))

        # The next push (gunicorn started a new worker) works, and brings the whole commit.
        wait_for(lambda: _up(f"http://127.0.0.1:{port}"), timeout=60, what="a new worker")
        git.run("push", direct, "main", cwd=work)
        remote = git.run("ls-remote", direct, "refs/heads/main", cwd=work).stdout.split()
        assert remote == [git.head(work), "refs/heads/main"] and remote[0] != before
        clone = tmp_path / "clone"
        git.run("clone", "-q", direct, str(clone))
        assert (clone / "big-3.bin").read_bytes() == (work / "big-3.bin").read_bytes()
    finally:
        forwarder.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the rules ------------------------------------------------------------------------------


def test_only_quarantines_untouched_for_an_hour_are_removed(tmp_path):
    repos = tmp_path / "repos"
    repo = repos / "alice" / "project.git"
    stale = _quarantine(repo, "incoming-stale")
    _age(stale, 2 * HOUR)
    fresh = _quarantine(repo, "incoming-fresh")
    # A long push: its folder is old, but its pack file is still being written.
    growing = _quarantine(repo, "incoming-growing")
    _age(growing, 2 * HOUR)
    os.utime(growing / "pack" / "tmp_pack_x")
    other = repos / "bob" / "other.git"
    other_stale = _quarantine(other, "incoming-x")
    _age(other_stale, HOUR + 60)
    pack = repo / "objects" / "pack"
    pack.mkdir(parents=True, exist_ok=True)
    (pack / "pack-1.pack").write_bytes(b"kept")
    _age(pack, 2 * HOUR)

    assert remove_stale_quarantines(repos) == [stale, other_stale]
    assert fresh.is_dir() and growing.is_dir() and (pack / "pack-1.pack").exists()
    assert sorted(p.name for p in (repo / "objects").iterdir()) == [
        "incoming-fresh", "incoming-growing", "pack",
    ]  # fmt: skip
    assert remove_stale_quarantines(tmp_path / "nothing-here") == []


def test_workers_of_the_default_queue_collect_garbage_in_their_upkeep(tmp_path, monkeypatch):
    home = tmp_path / "home"
    stale = _quarantine(home / "repos" / "alice" / "project.git")
    _age(stale, 2 * HOUR)
    monkeypatch.setenv("FORGE_HOME", str(home))
    for reconcile in RECONCILERS["default"]:
        if reconcile.__name__ == "_collect_garbage":
            reconcile()
            break
    else:
        raise AssertionError("no garbage collection among the default queue's reconcilers")
    assert not stale.exists()


def test_gc_needs_an_existing_home(tmp_path):
    result = forge_cli("gc", home=tmp_path / "missing")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr
