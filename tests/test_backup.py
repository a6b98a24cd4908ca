"""`forge backup` and `forge restore`, the way an admin runs them: a backup taken with the CLI
while forge serves and a push is landing, restored with the CLI into a new home (and, on
PostgreSQL, a new schema), then a forge started on it serves the same repositories, byte for
byte, and the same change, vote, webhook and token.

The repository is dulwich's real history (../shared/testdata/dulwich.bundle, see its README;
flask's has a tree forge refuses): main as of dulwich-1.0.0 and the config branch first, then
main's newer commits and its tags pushed while the backup runs. The snapshot must hold that
push whole or not at all.
"""

from __future__ import annotations

import json
import os
import tarfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from conftest import EXTERNAL_DATABASE, authed, forge_cli, postgres_schema, wait_for
from sqlalchemy import select
from support.webhooks import loopback_settings
from werkzeug.serving import make_server

from forge.app import create_app
from forge.db import Database
from forge.models import PushEvent, Webhook

BUNDLE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "dulwich.bundle"
ASSET_BYTES = bytes(range(256)) * 64
HOOK_SECRET = "s3cret-for-the-hook"

pytestmark = pytest.mark.skipif(not BUNDLE.exists(), reason="dulwich.bundle is not there")


@pytest.fixture
def settings(settings):
    """A webhook to a loopback receiver may be made (nothing is delivered in this test), and
    dulwich's history is imported as a site imports one, without push protection (its tests'
    fake tokens would be refused: tests/test_push_protection.py)."""
    settings = loopback_settings(settings)
    settings.push_protection = False
    return settings


@pytest.fixture
def restore_database_url(tmp_path):
    """The new database a restore goes into: a new schema on PostgreSQL, as conftest's
    `database_url` makes one; on SQLite the default, inside the new home."""
    if not EXTERNAL_DATABASE:
        yield ""
        return
    with postgres_schema("restore_") as url:
        yield url


def ls_remote(git, url: str) -> dict[str, str]:
    out = git.run("ls-remote", url).stdout
    return {ref: sha for sha, ref in (line.split("\t") for line in out.splitlines())}


def test_a_backup_taken_during_a_push_restores_into_a_new_home(
    tmp_path, settings, database_url, restore_database_url, hosted_repo, make_user, make_token,
    database, git, api,
):  # fmt: skip
    repo = hosted_repo("alice", "dulwich")
    source = tmp_path / "dulwich"
    git.run("clone", "-q", "--mirror", str(BUNDLE), str(source))
    git.run(
        "push", "-q", repo.push_url, "dulwich-1.0.0^{commit}:refs/heads/main", "config", cwd=source
    )

    # A change uploaded by a reader, a vote on it, a webhook with a secret.
    make_user("bob")
    bob = make_token("bob")
    work = tmp_path / "bob"
    git.run("clone", "-q", authed(repo.url, "bob", bob), str(work))
    git.install_change_id_hook(work)
    git.commit(work, {"CHANGES.md": "A change worth keeping.\n"}, "Document the change")
    git.run("push", "-q", authed(repo.url, "bob", bob), "HEAD:refs/for/main", cwd=work)
    vote = {"label": "Code-Review", "value": 1, "message": "looks right"}
    answer = api("POST", "/repos/alice/dulwich/pulls/1/votes", repo.token, json=vote)
    assert answer.status_code in (200, 201), answer.text
    hook = {
        "name": "web",
        "config": {"url": "http://127.0.0.1:9/hook", "secret": HOOK_SECRET},
        "events": ["push", "pull_request"],
    }
    answer = api("POST", "/repos/alice/dulwich/hooks", repo.token, json=hook)
    assert answer.status_code == 201, answer.text
    # A release with an uploaded file, kept in FORGE_HOME/releases, outside the database.
    release = api("POST", "/repos/alice/dulwich/releases", repo.token, json={"tag_name": "kept"})
    assert release.status_code == 201, release.text
    upload = requests.post(
        release.json()["upload_url"].split("{")[0], params={"name": "build.bin"},
        data=ASSET_BYTES, headers={"Authorization": f"token {repo.token}"}, timeout=30,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    before_push = ls_remote(git, repo.url)
    change = api("GET", "/repos/alice/dulwich/pulls/1", repo.token).json()
    votes = api("GET", "/repos/alice/dulwich/pulls/1/votes", repo.token).json()["votes"]

    # The rest of main and every tag, pushed while the backup runs.
    pushed: dict = {}

    # (Seven tags off main hold trees with a mode git never wrote, which forge refuses.)
    tags = [f"refs/tags/{t}" for t in git.run("tag", "--merged", "main", cwd=source).stdout.split()]

    def push():
        pushed["result"] = git.run(
            "push", "-q", repo.push_url, "main:refs/heads/main", *tags, cwd=source, check=False
        )

    objects = settings.repos_dir / "alice" / "dulwich.git" / "objects"
    pusher = threading.Thread(target=push)
    pusher.start()
    wait_for(lambda: any(objects.glob("incoming-*")) or not pusher.is_alive(), what="the push")
    archive = tmp_path / "forge-backup.tar.gz"
    env = {"DATABASE_URL": database_url}
    made = forge_cli("backup", str(archive), home=settings.home, env=env, timeout=300)
    assert made.returncode == 0, made.stderr
    pusher.join(timeout=300)
    assert pushed["result"].returncode == 0, pushed["result"].stderr
    after_push = ls_remote(git, repo.url)
    assert after_push["refs/heads/main"] != before_push["refs/heads/main"]

    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames()

    # Restore into a new home (and database); a second restore into it is refused.
    home = tmp_path / "restored"
    env = {"DATABASE_URL": restore_database_url}
    restored = forge_cli("restore", str(archive), home=home, env=env, timeout=300)
    assert restored.returncode == 0, restored.stderr
    again = forge_cli("restore", str(archive), home=home, env=env)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "not empty" in again.stderr

    new_url = restore_database_url or f"sqlite:///{home / 'forge.db'}"
    new_settings = replace(settings, home=home, database_url=new_url)
    app = create_app(new_settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        _check_restored(git, tmp_path, base, repo, before_push, after_push, change, votes)
        _check_rows(app, new_settings, after_push)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["forge.db"].dispose()


def _check_restored(git, tmp_path, base, repo, before_push, after_push, change, votes):
    url = f"{base}/alice/dulwich.git"
    refs = ls_remote(git, url)
    # The whole push or none of it: every ref as before it, or every ref as after it.
    snapshot = (
        after_push if refs["refs/heads/main"] == after_push["refs/heads/main"] else before_push
    )
    differing = {r for r in set(refs) | set(snapshot) if refs.get(r) != snapshot.get(r)}
    assert not differing, {r: (refs.get(r), snapshot.get(r)) for r in sorted(differing)[:5]}
    clone = tmp_path / "restored-clone"
    git.run("clone", "-q", "--mirror", url, str(clone))
    git.run("fsck", "--full", "--no-progress", cwd=clone)
    for ref, sha in refs.items():
        if ref != "HEAD":
            assert git.run("rev-parse", ref, cwd=clone).stdout.strip() == sha, ref
    assert git.head(clone, "HEAD") == refs["refs/heads/main"]

    def call(path: str):
        headers = {"Authorization": f"token {repo.token}"}  # the token's hash came back
        answer = requests.get(f"{base}/api/v3{path}", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def here(answer):
        """An answer of the first forge, its links pointing at the restored one."""
        old_base = repo.url.removesuffix("/alice/dulwich.git")
        return json.loads(json.dumps(answer).replace(old_base, base))

    restored_change = call("/repos/alice/dulwich/pulls/1")
    for key in ("number", "title", "state", "user", "created_at", "body"):
        assert restored_change[key] == here(change)[key], key
    for side in ("head", "base"):  # (their repository's pushed_at moved with the late push)
        for key in ("label", "ref", "sha"):
            assert restored_change[side][key] == change[side][key], (side, key)
    assert call("/repos/alice/dulwich/pulls/1/votes")["votes"] == here(votes)
    [release] = call("/repos/alice/dulwich/releases")
    [asset] = release["assets"]
    download = requests.get(
        asset["url"], headers={"Authorization": f"token {repo.token}",
        "Accept": "application/octet-stream"}, timeout=30,
    )  # fmt: skip
    assert download.status_code == 200 and download.content == ASSET_BYTES
    [hook] = call("/repos/alice/dulwich/hooks")
    assert hook["config"]["url"] == "http://127.0.0.1:9/hook"
    assert set(hook["events"]) == {"push", "pull_request"}


def _check_rows(app, settings, after_push):
    database: Database = app.extensions["forge.db"]
    with database.session() as session:
        [secret] = session.scalars(select(Webhook.secret)).all()
        assert secret == HOOK_SECRET
        landed = session.scalars(
            select(PushEvent.after).where(PushEvent.ref == "refs/heads/main")
        ).all()
    restored_main = _restored_main(settings)
    # The push's rows are there exactly when its refs are.
    assert (after_push["refs/heads/main"] in landed) == (
        restored_main == after_push["refs/heads/main"]
    )


def _restored_main(settings) -> str:
    from dulwich.repo import Repo

    with Repo(str(settings.repos_dir / "alice" / "dulwich.git")) as repo:
        return repo.refs[b"refs/heads/main"].decode()


def test_restore_refuses_a_home_that_is_not_empty_and_a_file_that_is_no_backup(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "something").write_text("x")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(64))
    env = {"DATABASE_URL": ""}
    for args, words in (
        (("restore", str(junk)), "not empty"),
        (("restore", str(tmp_path / "missing.tar.gz")), "no such file"),
    ):
        result = forge_cli(*args, home=home, env=env)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
    result = forge_cli("restore", str(junk), home=tmp_path / "new", env=env)
    assert result.returncode == 2 and "not a forge backup" in result.stderr, result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("lock_released", [False, True], ids=["under-lock", "after-lock"])
def test_a_ref_change_not_yet_committed_holds_the_backup_back_until_it_is(
    tmp_path, settings, database_url, database, hosted_repo, git, lock_released
):
    """A ref moved and its row written but not committed (a push still under its ref lock, or
    an API change that let go of the lock and is about to commit): the backup waits, and then
    holds both the ref and the row."""
    import subprocess
    import sys

    from forge.git import refs as git_refs
    from forge.git import storage
    from forge.models import Repository

    info = hosted_repo("alice", "project")
    work = git.init(tmp_path / "work")
    git.run("push", "-q", info.push_url, "main", cwd=work)
    head = git.head(work)
    path = settings.repos_dir / "alice" / "project.git"
    archive = tmp_path / "held.tar.gz"
    env = {**os.environ, "DATABASE_URL": database_url}
    argv = [sys.executable, "-m", "forge.cli", "--home", str(settings.home), "backup"]

    session = database.sessionmaker()
    try:
        with storage.open_repo(path) as repo:
            with git_refs.locked_refs(repo):
                update = git_refs.RefUpdate("refs/heads/held", git_refs.ZERO, head)
                git_refs.apply_updates(repo, [update])
                [repository_id] = session.scalars(select(Repository.id)).all()
                session.add(
                    PushEvent(repository_id=repository_id, ref=update.ref, before=update.old,
                              after=head, via="api")
                )  # fmt: skip
                session.flush()
                if not lock_released:
                    backup = subprocess.Popen([*argv, str(archive)], env=env, text=True,
                                              stderr=subprocess.PIPE)  # fmt: skip
                    time.sleep(3)
                    assert backup.poll() is None, "the backup did not wait for the ref lock"
                    session.commit()
            if lock_released:
                backup = subprocess.Popen([*argv, str(archive)], env=env, text=True,
                                          stderr=subprocess.PIPE)  # fmt: skip
                time.sleep(3)
                assert backup.poll() is None, "the backup did not wait for the writer"
                session.commit()
    finally:
        session.close()
    _out, err = backup.communicate(timeout=120)
    assert backup.returncode == 0, err

    with tarfile.open(archive) as tar:
        refs = tar.extractfile("home/repos/alice/project.git/packed-refs").read().decode()
        [events] = [n for n in tar.getnames() if n.endswith("-push_events.jsonl")]
        header, *rows = tar.extractfile(events).read().decode().splitlines()
    assert f"{head} refs/heads/held" in refs.splitlines()
    ref_at = json.loads(header)["columns"].index("ref")
    assert "refs/heads/held" in [json.loads(row)[ref_at] for row in rows]
