"""Events raised inside a worker reach their webhooks: a `forge worker` process of its own,
started as an admin starts one (no web application in it), lands a change through the merge
queue, and the receiver hears the push, the change closing and its way through the queue."""

from __future__ import annotations

import pytest
from conftest import forge_cli, wait_for
from support.webhooks import loopback_settings

from forge.accounts import users as accounts
from forge.repos import repositories as repos


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def test_a_worker_process_delivers_the_merge_queues_events(
    receiver,
    settings,
    hosted_repo,
    git,
    tmp_path,
    make_user,
    make_token,
    database,
    api,
):
    repo = hosted_repo()
    work = git.init(tmp_path / "alice", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    make_user("bob")
    bob = make_token("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, project, alice, "bob", "maintain")
    hook = api("POST", "/repos/alice/project/hooks", repo.token, json={
        "config": {"url": receiver.url, "content_type": "json"},
        "events": ["push", "pull_request", "merge_queue"],
    })  # fmt: skip
    assert hook.status_code == 201, hook.text

    git.run("checkout", "-q", "-b", "topic", cwd=work)
    git.commit(work, {"notes.txt": "a note\n"}, "Add a note")
    git.run("push", "-q", repo.push_url, "topic", cwd=work)
    opened = api("POST", "/repos/alice/project/pulls", repo.token,
                 json={"title": "A note", "head": "topic", "base": "main"})  # fmt: skip
    assert opened.status_code == 201, opened.text
    approved = api("POST", "/repos/alice/project/pulls/1/votes", bob,
                   json={"label": "Code-Review", "value": 2})  # fmt: skip
    assert approved.status_code == 201, approved.text

    # Auto-submit queued the change's consideration; a worker of its own does the rest.
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "FORGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "FORGE_WEBHOOK_RETRY_DELAYS": "0,1,1",
    }
    done = forge_cli("worker", "--burst", "--queues", "default,hooks", "--no-reconcile",
                     home=settings.home, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr

    def to_main():
        return [r for r in receiver.events("push") if r.payload()["ref"] == "refs/heads/main"]

    def closing():
        return [r for r in receiver.events("pull_request") if r.payload()["action"] == "closed"]

    def queue_actions():
        return {r.payload()["action"] for r in receiver.events("merge_queue")}

    wait_for(lambda: to_main() and closing() and queue_actions() >= {"queued", "merged"},
             timeout=30, what="the merge queue's webhooks")  # fmt: skip
    [push] = to_main()
    assert push.payload()["pusher"]["name"] == "bob"  # whose vote made it submittable
    [closed] = closing()
    assert closed.payload()["pull_request"]["merged"] is True
    assert closed.payload()["pull_request"]["merged_by"]["login"] == "bob"
