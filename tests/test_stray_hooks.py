"""A folder named `hooks` in the directory forge is started from must not stand in for forge's
own top-level `hooks/` package (issue 15): forge loads that package from beside `forge/`, by its
location (forge/receive_hooks.py), so pushes keep passing through the real checks and actions.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests
from conftest import PASSWORD, authed, free_port, wait_for
from sqlalchemy import select

import forge
from forge.db import Database
from forge.models import PushEvent
from forge.receive_hooks import HOOKS_DIR, hooks

STRAY_SAYS = "a stray hooks package was imported"


def make_stray_hooks(where: Path, kind: str, marker: Path) -> None:
    """A folder named `hooks` in `where`: a package that leaves `marker` behind and raises when
    imported ("raising"), one that defines nothing ("empty"), or a folder of git hook scripts,
    which Python would import as a namespace package ("scripts")."""
    folder = where / "hooks"
    folder.mkdir(parents=True)
    if kind == "raising":
        (folder / "__init__.py").write_text(
            f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
            f"raise ImportError({STRAY_SAYS!r})\n"
        )
        (folder / "context.py").write_text(f"raise ImportError({STRAY_SAYS!r})\n")
    elif kind == "empty":
        (folder / "__init__.py").write_text("")
    else:
        (folder / "pre-commit").write_text("#!/bin/sh\nexit 1\n")


PROBE = """
import json, sys
from forge.repos import refs
print(json.dumps({
    "file": refs.hooks.__file__,
    "checks": [check.__name__ for check in refs.hooks.PRE_RECEIVE],
    "stray": sorted(n for n in sys.modules if n == "hooks" or n.startswith("hooks.")),
}))
"""


@pytest.mark.parametrize("kind", ["raising", "empty", "scripts"])
def test_forge_started_beside_a_stray_hooks_folder_loads_its_own(tmp_path, kind):
    where, marker = tmp_path / "started-here", tmp_path / "stray-imported"
    make_stray_hooks(where, kind, marker)
    # `python -c` puts the working directory first on sys.path, as `python -m` does.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=where, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded == {
        "file": str(HOOKS_DIR / "__init__.py"),
        "checks": [check.__name__ for check in hooks.PRE_RECEIVE],
        "stray": [],
    }
    assert not marker.exists()


def test_nothing_imports_the_hooks_package_by_name():
    """`import hooks` / `from hooks.x import y` look the name up on sys.path, where a stray
    folder comes first; forge reaches the package through forge.receive_hooks, and the
    package's own modules import each other relatively."""
    offenders = []
    for root in (Path(forge.__file__).parent, HOOKS_DIR):
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                offenders += [
                    f"{path}:{node.lineno}: {name}"
                    for name in names
                    if name == "hooks" or name.startswith("hooks.")
                ]
    assert offenders == []


def test_forge_serve_started_beside_a_stray_hooks_folder_takes_pushes(tmp_path, database_url, git):
    where, marker = tmp_path / "started-here", tmp_path / "stray-imported"
    make_stray_hooks(where, "raising", marker)
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the embedded Redis
    env["DATABASE_URL"] = database_url

    def forge_at_stray(*args, input=None):
        """The `forge` command run from the folder with the stray `hooks` in it."""
        result = subprocess.run(
            [sys.executable, "-m", "forge.cli", "--home", str(home), *args],
            cwd=where,
            env={**env, "REDIS_URL": ""},
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def health():
        try:
            response = requests.get(f"{base}/healthz", timeout=5)
        except requests.RequestException:
            return None
        return response.status_code == 200

    log_path = tmp_path / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed in finally)
    # `forge serve` runs gunicorn and its worker as `python -m ...` in the same directory.
    server = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(home), "serve", "--port", str(port)],
        cwd=where,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    children: list[psutil.Process] = []
    try:
        wait_for(lambda: server.poll() is not None or health(), timeout=90, what="forge serve")
        assert server.poll() is None, log_path.read_text(errors="replace")
        children = psutil.Process(server.pid).children(recursive=True)

        forge_at_stray(
            "user", "create", "alice", "--email", "alice@example.org", "--password-stdin",
            input=PASSWORD + "\n",
        )  # fmt: skip
        token = forge_at_stray("token", "create", "alice")
        created = requests.post(
            f"{base}/api/v3/user/repos",
            json={"name": "project"},
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        push_url = authed(f"{base}/alice/project.git", "alice", token)

        work = git.init(tmp_path / "work")
        head = git.head(work)
        pushed = git.run("push", push_url, "main", cwd=work, timeout=60)
        assert "[new branch]      main -> main" in pushed.stderr
        assert f"{head}\trefs/heads/main" in git.run("ls-remote", push_url, timeout=60).stdout

        # forge's own checks refused what they refuse, with their reason ...
        refused = git.run("push", push_url, "main:refs/notes/x", cwd=work, check=False, timeout=60)
        assert refused.returncode != 0
        assert "only branches (refs/heads/) and tags (refs/tags/) can be pushed" in refused.stderr
        # ... and its own actions recorded the push that went in.
        database = Database(database_url)
        try:
            with database.session() as session:
                events = [(e.ref, e.after) for e in session.scalars(select(PushEvent))]
        finally:
            database.dispose()
        assert events == [("refs/heads/main", head)]

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log_path.read_text(errors="replace")
        logs = [log_path, *sorted((home / "logs").glob("*.log"))]
        assert not any(STRAY_SAYS in path.read_text(errors="replace") for path in logs)
        assert not marker.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        log.close()
