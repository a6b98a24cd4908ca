"""Gerrit's workflow as the tests drive it: the `project` fixture (alice's repository with a
.gitreview, her clone and the clone of bob, a stranger), the real git-review from PyPI, and
helpers that upload with push options and read back changes and Gerrit's /changes/ search."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import authed
from sqlalchemy import select

from forge.models import Change


@dataclass
class Project:
    url: str
    alice_url: str
    bob_url: str
    alice: Path  # alice's clone (she owns the repository)
    bob: Path  # bob's clone (a stranger: he may read and propose)
    live_server: str
    token: str  # alice's


def alice_token(project: Project) -> str:
    return project.token


@pytest.fixture
def gerrit_project(git, hosted_repo, make_user, make_token, tmp_path, live_server):
    hosted = hosted_repo()
    port = live_server.rsplit(":", 1)[1]
    seed = git.init(
        tmp_path / "seed",
        {
            "app.py": "print('hello')\n",
            ".gitreview": (
                f"[gerrit]\nhost=127.0.0.1\nport={port}\nscheme=http\n"
                "project=alice/project.git\ndefaultbranch=main\ndefaultremote=origin\n"
            ),
        },
    )
    git.run("push", "-q", hosted.push_url, "main", cwd=seed)
    make_user("bob")
    bob_url = authed(hosted.url, "bob", make_token("bob"))
    clones = {}
    for name, url in (("alice", hosted.push_url), ("bob", bob_url)):
        clones[name] = tmp_path / name
        git.run("clone", "-q", url, str(clones[name]))
    return Project(
        hosted.url,
        hosted.push_url,
        bob_url,
        clones["alice"],
        clones["bob"],
        live_server,
        hosted.token,
    )


def git_review(git, clone: Path, *args, check=True):
    """The real git-review (PyPI's), as a user runs it in their clone."""
    result = subprocess.run(
        [sys.executable, "-m", "git_review.cmd", *args],
        cwd=clone,
        env=git.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git review {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def install_hook(git, clone: Path) -> None:
    git_review(git, clone, "-s")
    assert (clone / ".git" / "hooks" / "commit-msg").stat().st_mode & 0o100


def changes_in(database):
    """(number, title, author, patch set count, depends on #, topic) of every change."""
    with database.session() as session:
        rows = session.scalars(select(Change).order_by(Change.number)).all()
        return [
            (
                c.number,
                c.title,
                c.author.name,
                len(c.patch_sets),
                c.depends_on.number if c.depends_on else None,
                c.topic,
            )
            for c in rows
        ]


def change_id(git, clone: Path, ref: str = "HEAD") -> str:
    message = git.run("log", "-1", "--format=%B", ref, cwd=clone).stdout
    return [line for line in message.splitlines() if line.startswith("Change-Id: ")][-1][11:]


def gerrit_changes(live_server, query, token=None, **params):
    headers = {"Authorization": f"token {token}"} if token else {}
    answer = requests.get(
        f"{live_server}/changes/", params={"q": query, **params}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith(")]}'\n")
    return json.loads(answer.text[5:])


def upload(git, project, *options, files=None, message="Greet briefly", check=True):
    """bob commits (a new change) and pushes it with `options`: "-o x" pairs or a "%..." suffix."""
    if not (project.bob / ".git" / "hooks" / "commit-msg").exists():
        git.install_change_id_hook(project.bob)
    git.commit(project.bob, files or {"app.py": "print('hi')\n"}, message)
    suffix = "".join(o for o in options if o.startswith("%"))
    flags = [o for o in options if not o.startswith("%")]
    return git.run(
        "push", *flags, project.bob_url, f"HEAD:refs/for/main{suffix}", cwd=project.bob,
        check=check,
    )  # fmt: skip


def only_change(database):
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        session.expunge_all()
        return change
