"""Every webhook event forge sends reaches a real receiver on 127.0.0.1 from a deployed forge,
driven only from outside (the `forge` command, the real `git` client over HTTP, the REST API):

- `forge serve`, the embedded default: it starts its own Redis, web server and worker;
- as docs/deploy.md deploys it at scale, with the guide's own environment file and systemd
  units' commands: `forge db upgrade`, gunicorn serving `forge.app:create_app()` and, beside
  it, two `forge worker` processes on a shared Redis, one for `default,hooks` (webhooks and
  the merge queue) and one for `ci`.

One scenario raises each event in `forge.notify.webhooks.EVENTS`: pushes that create and delete a
branch, a change opened by `git push HEAD:refs/for/main`, a review with an inline comment, an
issue comment, a commit status, a label, a milestone, an issue and a release, and a
maintainer's Code-Review +2 that sends the change through the merge queue onto main
(auto-submit), which closes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import authed, forge_cli, free_port, wait_for
from support import deploy_guide

from forge.notify.webhooks import EVENTS

PASSWORD = "correct horse battery"
SECRET = "deployed-secret"
REPO = "alice/project"
HOOK_ENV = {
    "FORGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "FORGE_WEBHOOK_RETRY_DELAYS": "0,1,1",
}


@dataclass
class Deployment:
    base: str  # http://127.0.0.1:PORT
    home: Path
    cli_env: dict  # what `forge user create` and `forge token create` need besides --home
    logs: list[Path]

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in self.logs if p.exists())  # fmt: skip


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=5).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # not listening, or still booting
        return False


def base_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}


@contextmanager
def started(tmp_path: Path, name: str, argv: list[str], env: dict, logs: list[Path], **kwargs):
    """A child process, logged to tmp_path/NAME.log; SIGTERM at the end, SIGKILL if it lingers."""
    log_path = tmp_path / f"{name}.log"
    logs.append(log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, **kwargs)  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def wait_until_up(base: str, procs: list[subprocess.Popen], deployment_output) -> None:
    wait_for(lambda: any(p.poll() is not None for p in procs) or healthy(base),
             timeout=60, what=f"forge at {base}")  # fmt: skip
    assert all(p.poll() is None for p in procs), deployment_output()


@contextmanager
def forge_serve(tmp_path: Path, database_url: str, _redis_url: str) -> Iterator[Deployment]:
    """docs/deploy.md section 1: forge.service's command, on a free port."""
    home, port = tmp_path / "home", free_port()
    base, logs = f"http://127.0.0.1:{port}", []
    env = {**base_env(), "FORGE_HOME": str(home), "DATABASE_URL": database_url,
           "FORGE_WORKERS": "1", **HOOK_ENV}  # fmt: skip
    argv = deploy_guide.command("forge.service", {"8000": str(port)})
    deployment = Deployment(base, home, {"DATABASE_URL": database_url, "REDIS_URL": ""}, logs)
    with started(tmp_path, "serve", argv, env, logs) as server:
        logs.extend([home / "logs" / "worker.log", home / "logs" / "ci-worker.log"])
        wait_until_up(base, [server], deployment.output)
        yield deployment
        assert server.poll() is None, deployment.output()


@contextmanager
def production(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Deployment]:
    """docs/deploy.md section 2, as written: its environment file (with this test's database,
    Redis, home and address), `forge db upgrade`, then its three systemd units' commands."""
    home, port = tmp_path / "home", free_port()
    base, logs = f"http://127.0.0.1:{port}", []
    env = {
        **base_env(),
        **deploy_guide.environment(),
        "FORGE_HOME": str(home),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FORGE_BASE_URL": base,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **HOOK_ENV,
    }
    (tmp_path / "metrics").mkdir()
    deployment = Deployment(base, home, env, logs)
    upgraded = forge_cli("db", "upgrade", home=home, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    web = deploy_guide.command("forge-web.service", {"127.0.0.1:8000": f"127.0.0.1:{port}"})
    with ExitStack() as stack:
        procs = [
            stack.enter_context(started(tmp_path, unit, argv, env, logs, cwd=tmp_path))
            for unit, argv in [
                ("forge-web", web),
                ("forge-worker", deploy_guide.command("forge-worker.service")),
                ("forge-ci", deploy_guide.command("forge-ci.service")),
            ]
        ]
        wait_until_up(base, procs, deployment.output)
        yield deployment
        assert all(p.poll() is None for p in procs), deployment.output()


def all_events_arrive(deployment: Deployment, receiver, git, tmp_path: Path) -> None:
    base = deployment.base

    def cli(*args, input=None) -> str:
        result = forge_cli(*args, home=deployment.home, env=deployment.cli_env, input=input)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    for name in ("alice", "bob"):
        cli("user", "create", name, "--email", f"{name}@example.org", "--password-stdin",
            input=PASSWORD + "\n")  # fmt: skip
    alice, bob = cli("token", "create", "alice"), cli("token", "create", "bob")

    def api(method: str, path: str, token: str, expect: int, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {token}"}
        answer = requests.request(method, f"{base}/api/v3{path}", headers=headers, timeout=30,
                                  **kwargs)  # fmt: skip
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer

    api("POST", "/user/repos", alice, 201, json={"name": "project"})
    api("PUT", f"/repos/{REPO}/collaborators/bob", alice, 201, json={"permission": "maintain"})
    api("POST", f"/repos/{REPO}/hooks", alice, 201, json={
        "name": "web", "active": True, "events": list(EVENTS),
        "config": {"url": receiver.url, "content_type": "json", "secret": SECRET},
    })  # fmt: skip
    # The hook's creation ping: a worker is taking deliveries.
    wait_for(lambda: receiver.events("ping"), timeout=60, what="the hook's creation ping")

    # push, create, delete: a first push to main, a branch pushed and deleted.
    push_url = authed(f"{base}/{REPO}.git", "alice", alice)
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", push_url, "HEAD:main", cwd=work)
    git.run("push", "-q", push_url, "HEAD:refs/heads/feature", cwd=work)
    git.run("push", "-q", push_url, "--delete", "feature", cwd=work)

    # pull_request opened: a change uploaded for review.
    git.install_change_id_hook(work)
    head = git.commit(work, {"notes.txt": "first line\nsecond line\n"}, "Add notes")
    git.run("push", "-q", push_url, "HEAD:refs/for/main", cwd=work)
    [pull] = api("GET", f"/repos/{REPO}/pulls", alice, 200).json()
    number = pull["number"]
    assert pull["head"]["sha"] == head

    # pull_request_review and pull_request_review_comment, issue_comment, status.
    api("POST", f"/repos/{REPO}/pulls/{number}/reviews", bob, 200, json={
        "event": "COMMENT", "body": "a few notes", "commit_id": head,
        "comments": [{"path": "notes.txt", "line": 2, "body": "nice line"}],
    })  # fmt: skip
    api("POST", f"/repos/{REPO}/issues/{number}/comments", alice, 201,
        json={"body": "thanks for looking"})  # fmt: skip
    api("POST", f"/repos/{REPO}/statuses/{head}", alice, 201,
        json={"state": "success", "context": "ci/external", "description": "green"})  # fmt: skip

    # label, milestone, issues: the tracker; release: a release of main, tagged as it publishes.
    api("POST", f"/repos/{REPO}/labels", alice, 201, json={"name": "bug", "color": "d73a4a"})
    api("POST", f"/repos/{REPO}/milestones", alice, 201, json={"title": "v1"})
    api("POST", f"/repos/{REPO}/issues", bob, 201, json={"title": "A report", "labels": ["bug"]})
    api("POST", f"/repos/{REPO}/releases", alice, 201,
        json={"tag_name": "v0.1", "target_commitish": "main", "name": "First"})  # fmt: skip

    # vote, then merge_queue: a maintainer's +2 makes the change submittable; auto-submit queues
    # it, a worker lands it on main (push) and closes it (pull_request closed).
    api("POST", f"/repos/{REPO}/pulls/{number}/votes", bob, 201,
        json={"label": "Code-Review", "value": 2})  # fmt: skip

    def main_pushes():
        return [r for r in receiver.events("push") if r.payload()["ref"] == "refs/heads/main"]

    def feature(event: str) -> list:
        return [r.payload() for r in receiver.events(event) if r.payload()["ref"] == "feature"]

    def actions(event: str) -> set:
        return {r.payload().get("action") for r in receiver.events(event)}

    expected = {
        "push": lambda: len(main_pushes()) >= 2,  # the first push, and the merge queue's
        "create": lambda: feature("create"),
        "delete": lambda: feature("delete"),
        "pull_request": lambda: {"opened", "closed"} <= actions("pull_request"),
        "pull_request_review": lambda: receiver.events("pull_request_review"),
        "pull_request_review_comment": lambda: receiver.events("pull_request_review_comment"),
        "issue_comment": lambda: receiver.events("issue_comment"),
        "status": lambda: receiver.events("status"),
        "vote": lambda: receiver.events("vote"),
        "merge_queue": lambda: {"queued", "merged"} <= actions("merge_queue"),
        "label": lambda: "created" in actions("label"),
        "milestone": lambda: "created" in actions("milestone"),
        "issues": lambda: "opened" in actions("issues"),
        "release": lambda: "published" in actions("release"),
    }
    assert set(expected) == set(EVENTS), "an event forge sends is not raised by this scenario"

    def missing() -> list[str]:
        return [name for name, arrived in expected.items() if not arrived()]

    try:
        wait_for(lambda: not missing(), timeout=60, what="every event")
    except AssertionError:
        got = sorted({(r.event, r.payload().get("action")) for r in receiver.requests},
                     key=str)  # fmt: skip
        raise AssertionError(
            f"missing {missing()}; received {got}\n{deployment.output()}"
        ) from None

    # Each event arrived under its own X-GitHub-Event name (what `events` selects by), signed,
    # about alice/project; nothing arrived that forge does not say it sends.
    assert {r.event for r in receiver.requests} == {"ping", *EVENTS}
    for name in EVENTS:
        for request in receiver.events(name):
            assert request.signed_with(SECRET), name
            assert request.headers["User-Agent"] == "GitHub-Hookshot/forge"
            assert request.payload()["repository"]["full_name"] == REPO, name

    created, deleted = feature("create")[0], feature("delete")[0]
    assert created["ref_type"] == deleted["ref_type"] == "branch"
    by_action = {r.payload()["action"]: r.payload() for r in receiver.events("pull_request")}
    assert by_action["opened"]["number"] == number
    assert by_action["opened"]["pull_request"]["head"]["sha"] == head
    assert by_action["closed"]["number"] == number
    assert by_action["closed"]["pull_request"]["merged"] is True
    review = receiver.events("pull_request_review")[0].payload()
    assert review["action"] == "submitted" and review["pull_request"]["number"] == number
    comment = receiver.events("pull_request_review_comment")[0].payload()
    assert comment["action"] == "created" and comment["comment"]["path"] == "notes.txt"
    issue_comment = receiver.events("issue_comment")[0].payload()
    assert issue_comment["action"] == "created" and issue_comment["issue"]["number"] == number
    status = receiver.events("status")[0].payload()
    assert (status["sha"], status["state"], status["context"]) == (head, "success", "ci/external")
    vote = receiver.events("vote")[0].payload()
    assert vote["action"] == "created" and vote["pull_request"]["number"] == number
    assert (vote["vote"]["label"], vote["vote"]["value"]) == ("Code-Review", 2)
    for entry in receiver.events("merge_queue"):
        assert entry.payload()["pull_request"]["number"] == number
    landed = api("GET", f"/repos/{REPO}/branches/main", alice, 200).json()["commit"]["sha"]
    assert landed in {r.payload()["after"] for r in main_pushes()}


@pytest.mark.parametrize("deploy", [forge_serve, production], ids=["forge-serve", "production"])
def test_every_webhook_event_reaches_a_receiver(
    deploy, receiver, git, tmp_path, database_url, clean_redis
):
    with deploy(tmp_path, database_url, clean_redis) as deployment:
        all_events_arrive(deployment, receiver, git, tmp_path)
