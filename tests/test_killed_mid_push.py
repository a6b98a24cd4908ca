"""kill -9 of the web worker that is receiving a push: the push fails as git sees it, nothing of
it is visible (refs unchanged, no lock left held), and the next push works, under
`forge serve` as people run it (gunicorn restarts the worker it lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import requests
from conftest import authed, forge_cli, free_port, wait_for

PASSWORD = "correct horse battery"


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False


def web_workers(server: subprocess.Popen) -> list[psutil.Process]:
    """gunicorn's worker processes (the master's children), not the master itself."""
    everyone = psutil.Process(server.pid).children(recursive=True)
    masters = [p for p in everyone if "gunicorn" in " ".join(p.cmdline())]
    return [c for m in masters for c in m.children() if "gunicorn" in " ".join(c.cmdline())]


def test_a_web_worker_killed_mid_push_leaves_nothing_half_done(tmp_path, database_url, git):
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({"DATABASE_URL": database_url, "FORGE_WORKERS": "1"})
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(home), "serve", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: server.poll() is not None or healthy(base), timeout=60, what="serve")
        assert server.poll() is None, (tmp_path / "serve.log").read_text()
        cli_env = {"DATABASE_URL": database_url, "REDIS_URL": ""}
        made = forge_cli("user", "create", "alice", "--email", "alice@example.org",
                         "--password-stdin", home=home, env=cli_env,
                         input=PASSWORD + "\n")  # fmt: skip
        assert made.returncode == 0, made.stderr
        token = forge_cli("token", "create", "alice", home=home, env=cli_env).stdout.strip()
        created = requests.post(f"{base}/api/v3/user/repos", json={"name": "project"},
                                headers={"Authorization": f"token {token}"},
                                timeout=30)  # fmt: skip
        assert created.status_code == 201, created.text
        url = authed(f"{base}/alice/project.git", "alice", token)

        work = git.init(tmp_path / "work", {"README.md": "# project\n"})
        git.run("push", "-q", url, "HEAD:main", cwd=work)
        first = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
        # Enough incompressible data that the pack takes a while to arrive.
        (work / "blob.bin").write_bytes(os.urandom(48 * 1024 * 1024))
        git.commit(work, {}, "a big file")
        bare = home / "repos" / "alice" / "project.git"

        push = subprocess.Popen(["git", "push", url, "HEAD:main"], cwd=work, env=git.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        # Mid-transfer: the server has started writing the push's quarantine.
        wait_for(lambda: any((bare / "objects").glob("incoming-*")) or push.poll() is not None,
                 timeout=60, what="the push under way")  # fmt: skip
        assert push.poll() is None, "the push ended before it could be interrupted"
        victims = web_workers(server)
        assert victims
        for worker in victims:
            worker.send_signal(signal.SIGKILL)
        _out, err = push.communicate(timeout=120)
        assert push.returncode != 0, err  # git says the push failed, which it did
        assert git.run("ls-remote", url, "refs/heads/main").stdout.split()[0] == first

        # gunicorn starts a new worker; the same push now goes through.
        wait_for(lambda: healthy(base), timeout=60, what="a new web worker")
        git.run("push", "-q", url, "HEAD:main", cwd=work)
        head = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
        assert git.run("ls-remote", url, "refs/heads/main").stdout.split()[0] == head
        # What a user sees: a fresh clone has the whole history, intact.
        clone = tmp_path / "clone"
        git.run("clone", "-q", url, str(clone))
        assert git.run("rev-parse", "HEAD", cwd=clone).stdout.strip() == head
        git.run("fsck", "--no-progress", "--strict", cwd=clone)

        # And on the server, once pack maintenance after the push is done, every pack has its
        # index (a pack without one is what a killed writer would leave).
        def unindexed() -> list[str]:
            packs = (bare / "objects" / "pack").glob("*.pack")
            return [p.name for p in packs if not p.with_suffix(".idx").exists()]

        wait_for(lambda: not unindexed(), timeout=60, what=f"indexes for {unindexed()}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
