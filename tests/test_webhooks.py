"""Webhooks: a receiver on 127.0.0.1 gets GitHub-shaped, signed events from real pushes and API
calls, delivered by a real rq worker; failures are retried and every attempt is on record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import wait_for
from sqlalchemy import update
from support.webhooks import SECRET, drain, loopback_settings, make_hook, push_new_commit

from forge.app import create_app
from forge.db import utcnow
from forge.models import Change, MergeQueueEntry, Repository, User, Vote, WebhookDelivery
from forge.notify import webhook_recording
from forge.notify.deliveries import reconcile
from forge.queue import connect
from forge.worker import run_worker


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def push_topic_branch(git, tmp_path, repo_info):
    """main with one commit, and the branch topic one commit ahead; (clone, topic's head)."""
    work = git.init(tmp_path / "work")
    git.run("push", "-q", repo_info.push_url, "HEAD:main", cwd=work)
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    head = git.commit(work, {"README.md": "# hello\nmore\n"}, "topic work")
    git.run("push", "-q", repo_info.push_url, "topic", cwd=work)
    return work, head


def test_hooks_are_managed_like_github_and_never_show_their_secret(
    github, hosted_repo, receiver, api, settings
):
    info = hosted_repo()
    repo, hook = make_hook(github, info, receiver, settings, events=["push", "pull_request"])
    assert hook.name == "web" and hook.active and hook.events == ["push", "pull_request"]
    assert hook.config["secret"] == "********" and hook.config["url"] == receiver.url
    assert [h.id for h in repo.get_hooks()] == [hook.id]

    hook.edit("web", {"url": receiver.url, "content_type": "form"}, events=["status"])
    again = repo.get_hook(hook.id)
    assert again.events == ["status"] and again.config["content_type"] == "form"
    assert again.config["secret"] == "********"  # editing without a secret keeps it

    raw = api("GET", f"/repos/alice/project/hooks/{hook.id}", info.token).json()
    assert SECRET not in json.dumps(raw)

    hook.delete()
    assert list(repo.get_hooks()) == []


def test_hooks_need_admin_and_the_hook_scope(hosted_repo, make_user, make_token, api, receiver):
    info = hosted_repo()
    body = {"name": "web", "config": {"url": receiver.url}, "events": ["push"]}
    narrow = make_token("alice", "repo")
    assert api("POST", "/repos/alice/project/hooks", narrow, json=body).status_code == 403
    make_user("mallory")
    other = make_token("mallory")
    assert api("POST", "/repos/alice/project/hooks", other, json=body).status_code == 403
    assert api("POST", "/repos/alice/project/hooks", info.token, json=body).status_code == 201


def test_ping_push_create_and_delete_arrive_signed_with_github_payloads(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    git.init(tmp_path / "seed")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=tmp_path / "seed")
    _repo, hook = make_hook(github, info, receiver, settings)

    hook.ping()
    work, sha = push_new_commit(git, tmp_path, info, {"docs/a.md": "a\n"}, "add docs")
    git.run("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work)
    git.run("push", "-q", "origin", "--delete", "feature", cwd=work)
    drain(settings, lambda: len(receiver.events("delete")) == 1)

    for request in receiver.requests:
        assert request.signed_with(SECRET)
        assert request.headers["User-Agent"] == "GitHub-Hookshot/forge"
        assert request.headers["X-GitHub-Hook-ID"] == str(hook.id)
        assert len(request.headers["X-GitHub-Delivery"]) == 36
        assert request.headers["Content-Type"] == "application/json"
    ping = receiver.events("ping")[0].payload()
    assert ping["hook_id"] == hook.id and ping["zen"]

    pushes = [r.payload() for r in receiver.events("push")]
    main_push = next(p for p in pushes if p["ref"] == "refs/heads/main")
    assert main_push["after"] == sha and main_push["created"] is False
    assert main_push["forced"] is False and main_push["deleted"] is False
    commit = main_push["head_commit"]
    assert commit["id"] == sha and commit["message"].strip() == "add docs"
    assert commit["added"] == ["docs/a.md"] and commit["author"]["email"] == "author@example.org"
    assert main_push["pusher"]["name"] == "alice"
    assert main_push["repository"]["full_name"] == "alice/project"
    assert main_push["sender"]["login"] == "alice"
    assert main_push["compare"].startswith("http://127.0.0.1:")

    created = receiver.events("create")[0].payload()
    assert (created["ref"], created["ref_type"]) == ("feature", "branch")
    deleted = receiver.events("delete")[0].payload()
    assert (deleted["ref"], deleted["ref_type"]) == ("feature", "branch")
    feature_delete = next(p for p in pushes if p["deleted"])
    assert feature_delete["ref"] == "refs/heads/feature"


def test_pull_request_review_comment_and_status_events(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    work, first = push_topic_branch(git, tmp_path, info)
    repo, _hook = make_hook(github, info, receiver, settings)

    pull = repo.create_pull(title="Topic", body="please", base="main", head="topic")
    pull.edit(title="Topic, renamed")
    second = git.commit(work, {"README.md": "# hello\nmore\nagain\n"}, "more topic work")
    git.run("push", "-q", info.push_url, "topic", cwd=work)
    pull.create_issue_comment("looks fine")
    pull.create_review(
        body="a few notes",
        event="COMMENT",
        comments=[{"path": "README.md", "line": 2, "body": "nice line"}],
    )
    repo.get_commit(second).create_status("success", context="ci/test", description="green")
    pull.edit(state="closed")
    pull.edit(state="open")
    pull.merge(merge_method="merge")
    drain(settings, lambda: any(r.payload().get("pull_request", {}).get("merged")
                                for r in receiver.events("pull_request")))  # fmt: skip

    assert all(r.signed_with(SECRET) for r in receiver.requests)
    actions = [r.payload()["action"] for r in receiver.events("pull_request")]
    assert actions == ["opened", "edited", "synchronize", "closed", "reopened", "closed"]
    by_action = {r.payload()["action"]: r.payload() for r in receiver.events("pull_request")}
    assert by_action["opened"]["pull_request"]["head"]["sha"] == first
    assert by_action["opened"]["number"] == pull.number
    assert by_action["edited"]["changes"] == {"title": {"from": "Topic"}}
    assert by_action["synchronize"]["after"] == second
    merged = receiver.events("pull_request")[-1].payload()
    assert merged["pull_request"]["merged"] is True and merged["pull_request"]["state"] == "closed"

    review = receiver.events("pull_request_review")[0].payload()
    assert review["action"] == "submitted" and review["review"]["body"] == "a few notes"
    comment = receiver.events("pull_request_review_comment")[0].payload()
    assert comment["comment"]["body"] == "nice line" and comment["comment"]["path"] == "README.md"
    issue_comment = receiver.events("issue_comment")[0].payload()
    assert issue_comment["comment"]["body"] == "looks fine"
    assert issue_comment["issue"]["number"] == pull.number
    assert issue_comment["issue"]["pull_request"]["url"].endswith(f"/pulls/{pull.number}")
    status = receiver.events("status")[0].payload()
    assert (status["sha"], status["state"], status["context"]) == (second, "success", "ci/test")


def test_forges_own_ci_statuses_arrive_as_status_events(
    ci, github, hosted_repo, receiver, settings, git, tmp_path, monkeypatch
):
    """A status CI sets is a status like any other for a receiver: pending, then success."""
    monkeypatch.setenv("FORGE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    info = hosted_repo()
    first = git.init(tmp_path / "first", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=first)
    make_hook(github, info, receiver, settings, events=["status"])
    yml = "jobs:\n  test:\n    run: echo tested\n"
    _work, sha = push_new_commit(git, tmp_path, info, {".forge/ci.yml": yml}, "add CI")
    run_worker(settings.redis_url, ["default", "ci"], burst=True)
    drain(settings, lambda: "success" in [r.payload()["state"] for r in receiver.events("status")])
    statuses = [r.payload() for r in receiver.events("status")]
    assert {(s["sha"], s["context"]) for s in statuses} == {(sha, "ci/test")}
    assert [s["state"] for s in statuses][0] == "pending"
    assert statuses[-1]["state"] == "success"
    assert statuses[-1]["sender"]["login"] == "alice"
    assert statuses[-1]["repository"]["full_name"] == "alice/project"


def test_an_annotated_tag_push_sends_create_and_push_without_a_warning(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    make_hook(github, info, receiver, settings, events=["push", "create"])
    git.run("tag", "-a", "v1.0", "-m", "the first release", cwd=work)
    pushed = git.run("push", info.push_url, "v1.0", cwd=work)
    assert "warning" not in pushed.stderr, pushed.stderr
    drain(settings, lambda: receiver.events("push") and receiver.events("create"))
    [push] = [r.payload() for r in receiver.events("push")]
    assert push["ref"] == "refs/tags/v1.0" and push["commits"] == []
    assert push["after"] == git.run("rev-parse", "v1.0", cwd=work).stdout.strip()
    [create] = [r.payload() for r in receiver.events("create")]
    assert (create["ref"], create["ref_type"]) == ("v1.0", "tag")


def test_a_failed_delivery_is_retried_and_both_attempts_are_on_record(
    github, hosted_repo, receiver, settings, api
):
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings)
    receiver.answers = [500]
    hook.ping()
    drain(settings, lambda: len(receiver.requests) == 2)
    first, second = receiver.requests
    assert first.headers["X-GitHub-Delivery"] == second.headers["X-GitHub-Delivery"]

    base = f"/repos/alice/project/hooks/{hook.id}/deliveries"
    listed = api("GET", base, info.token).json()  # newest first: the creation ping is last
    assert [d["event"] for d in listed] == ["ping", "ping"] and listed[0]["status_code"] == 200
    detail = api("GET", f"{base}/{listed[0]['id']}", info.token).json()
    assert [a["status_code"] for a in detail["attempts"]] == [500, 200]
    assert detail["attempts"][0]["response"]["payload"] == "oops"
    assert detail["request"]["headers"]["X-GitHub-Event"] == "ping"
    assert detail["request"]["payload"]["hook_id"] == hook.id

    # Redelivery: a new delivery with the same GUID, flagged as such.
    answer = api("POST", f"{base}/{listed[0]['id']}/attempts", info.token)
    assert answer.status_code == 202
    drain(settings, lambda: len(receiver.requests) == 3)
    assert receiver.requests[2].headers["X-GitHub-Delivery"] == first.headers["X-GitHub-Delivery"]
    listed = api("GET", base, info.token).json()
    assert [d["redelivery"] for d in listed] == [True, False, False]


def test_a_receiver_that_never_answers_does_not_hold_up_a_push(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    git.init(tmp_path / "seed")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=tmp_path / "seed")
    make_hook(github, info, receiver, settings)
    receiver.stall = threading.Event()
    _work, sha = push_new_commit(git, tmp_path, info, message="while the receiver sleeps")
    # The push is done, and no delivery was even tried (a stalled receiver records what
    # reaches it): the delivery waits on the queue for a worker...
    assert receiver.stalled == [] and receiver.requests == []
    # ...which sends it once the receiver answers again: it was queued, not dropped.
    stall, receiver.stall = receiver.stall, None
    stall.set()
    drain(settings, lambda: receiver.events("push"))
    assert receiver.stalled == []
    assert [r.payload()["after"] for r in receiver.events("push")] == [sha]


def test_private_targets_are_refused_unless_allowed(
    settings, database, hosted_repo, receiver, api, github
):
    info = hosted_repo()
    body = {"name": "web", "config": {"url": receiver.url, "secret": SECRET}, "events": ["*"]}
    # With 127.0.0.1 allowed the hook is made...
    created = api("POST", "/repos/alice/project/hooks", info.token, json=body)
    assert created.status_code == 201
    hook_id = created.json()["id"]
    drain(settings, lambda: receiver.events("ping"))  # its creation ping, while allowed
    receiver.requests.clear()

    # ...a forge without the allow-list refuses to make one, and to deliver to the one made.
    strict = create_app(replace(settings, webhook_allowed_hosts=()))
    client = strict.test_client()
    headers = {"Authorization": f"token {info.token}"}
    refused = client.post("/api/v3/repos/alice/project/hooks", json=body, headers=headers)
    assert refused.status_code == 422 and "internal address" in refused.get_json()["message"]
    for url in ("http://169.254.169.254/latest", "http://10.1.2.3/", "http://[::1]:8080/"):
        body["config"]["url"] = url
        answer = client.post("/api/v3/repos/alice/project/hooks", json=body, headers=headers)
        assert answer.status_code == 422, url
    pinged = client.post(f"/api/v3/repos/alice/project/hooks/{hook_id}/pings", headers=headers)
    assert pinged.status_code == 204
    run_worker(settings.redis_url, ["hooks"], burst=True)
    strict.extensions["forge.db"].dispose()
    assert receiver.requests == []  # the job ran with the strict policy: nothing was sent
    deliveries = api("GET", f"/repos/alice/project/hooks/{hook_id}/deliveries", info.token).json()
    assert deliveries[0]["state"] == "failed" and "internal address" in deliveries[0]["status"]


def test_a_changed_secret_signs_and_form_content_type(github, hosted_repo, receiver, settings):
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings, content_type="form")
    hook.edit("web", {"url": receiver.url, "content_type": "form", "secret": "new secret"})
    hook.ping()
    drain(settings, lambda: len(receiver.requests) == 1)
    request = receiver.requests[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.signed_with("new secret") and not request.signed_with(SECRET)
    assert request.payload()["hook"]["id"] == hook.id


def test_a_patch_set_uploaded_to_refs_for_is_a_synchronize(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    make_hook(github, info, receiver, settings, events=["pull_request"])

    git.install_change_id_hook(work)
    first = git.commit(work, {"notes.txt": "one\n"}, "notes")
    git.run("push", "-q", "-o", "topic=notes", info.push_url, "HEAD:refs/for/main", cwd=work)
    trailer = git.change_id_trailer(work)  # kept: the Change-Id says which change it updates
    git.run("commit", "-q", "--amend", "-m", "notes, better", "-m", trailer, cwd=work)
    second = git.head(work)
    git.run("push", "-q", "-o", "topic=notes", info.push_url, "HEAD:refs/for/main", cwd=work)
    drain(settings, lambda: len(receiver.events("pull_request")) == 2)

    opened, synchronize = (r.payload() for r in receiver.events("pull_request"))
    assert opened["action"] == "opened" and opened["pull_request"]["head"]["sha"] == first
    assert synchronize["action"] == "synchronize"
    assert (synchronize["before"], synchronize["after"]) == (first, second)
    assert synchronize["number"] == opened["number"]
    assert synchronize["pull_request"]["head"]["sha"] == second
    assert synchronize["sender"]["login"] == "alice"
    assert synchronize["pull_request"]["html_url"].startswith("http://127.0.0.1:")


def test_system_hooks_get_every_repositorys_events_and_are_for_site_admins_only(
    hosted_repo, make_user, make_token, api, receiver, settings, git, tmp_path
):
    alice = hosted_repo()
    bob = hosted_repo("bob", "other", private=True)
    make_user("root", admin=True)
    root = make_token("root")
    body = {"name": "web", "config": {"url": receiver.url, "content_type": "json",
            "secret": SECRET}, "events": ["push"]}  # fmt: skip

    # To anyone but a site admin the system hooks do not exist.
    assert api("GET", "/admin/hooks", alice.token).status_code == 404
    assert api("POST", "/admin/hooks", alice.token, json=body).status_code == 404
    assert api("GET", "/admin/hooks").status_code == 401
    hook_scope_only = make_token("root", "admin:repo_hook")
    assert api("GET", "/admin/hooks", hook_scope_only).status_code == 403

    created = api("POST", "/admin/hooks", root, json=body)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["type"] == "Global" and hook["config"]["secret"] == "********"
    assert hook["url"].endswith(f"/api/v3/admin/hooks/{hook['id']}")
    assert [h["id"] for h in api("GET", "/admin/hooks", root).json()] == [hook["id"]]
    # It is no repository's hook.
    assert api("GET", f"/repos/alice/project/hooks/{hook['id']}", alice.token).status_code == 404
    assert api("GET", "/repos/alice/project/hooks", alice.token).json() == []

    for info in (alice, bob):
        work = git.init(tmp_path / info.name)
        git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    assert api("POST", f"/admin/hooks/{hook['id']}/pings", root).status_code == 204
    drain(settings, lambda: len(receiver.requests) == 4)  # creation ping, 2 pushes, ping

    assert all(r.signed_with(SECRET) for r in receiver.requests)
    names = sorted(r.payload()["repository"]["full_name"] for r in receiver.events("push"))
    assert names == ["alice/project", "bob/other"]  # the private one too
    ping = receiver.events("ping")[0]
    assert ping.headers["X-GitHub-Hook-Installation-Target-Type"] == "business"
    assert ping.payload()["hook"]["type"] == "Global" and "repository" not in ping.payload()

    deliveries = api("GET", f"/admin/hooks/{hook['id']}/deliveries", root).json()
    assert sorted(d["event"] for d in deliveries) == ["ping", "ping", "push", "push"]
    assert all(d["status_code"] == 200 for d in deliveries)
    detail = api("GET", f"/admin/hooks/{hook['id']}/deliveries/{deliveries[0]['id']}", root)
    assert detail.json()["request"]["headers"]["X-GitHub-Hook-ID"] == str(hook["id"])

    edited = api("PATCH", f"/admin/hooks/{hook['id']}", root, json={"active": False})
    assert edited.status_code == 200 and edited.json()["active"] is False
    refused = api("PATCH", f"/admin/hooks/{hook['id']}", root, json={"events": ["nonsense"]})
    assert refused.status_code == 422
    assert api("GET", f"/admin/hooks/{hook['id']}", root).json()["events"] == ["push"]
    assert api("DELETE", f"/admin/hooks/{hook['id']}", root).status_code == 204
    assert api("GET", f"/admin/hooks/{hook['id']}", root).status_code == 404


def test_vote_and_merge_queue_events_arrive_github_style(
    github, hosted_repo, make_user, receiver, settings, database, git, tmp_path
):
    info = hosted_repo()
    _work, head = push_topic_branch(git, tmp_path, info)
    repo, _hook = make_hook(github, info, receiver, settings, events=["vote", "merge_queue"])
    pull = repo.create_pull(title="Topic", body="", base="main", head="topic")
    make_user("bob")

    base_url = "https://forge.example.org"
    with database.session() as session:
        change = session.query(Change).filter_by(number=pull.number).one()
        bob = session.query(User).filter_by(name="bob").one()
        alice = session.query(User).filter_by(name="alice").one()
        project = session.get(Repository, change.repository_id)
        vote = Vote(change_id=change.id, user=bob, label="Code-Review", value=2,
                    message="ship it", patch_set_number=1)  # fmt: skip
        session.add(vote)
        session.flush()
        webhook_recording.emit(session, project, "vote", base_url, change=change, vote=vote,
                               sender=bob, action="created")  # fmt: skip
        waiting = MergeQueueEntry(repository_id=project.id, branch="main", change_id=change.id,
                                  state="queued", method="squash", enqueued_by_id=alice.id,
                                  base_sha=None)  # fmt: skip
        session.add(waiting)
        session.flush()
        webhook_recording.emit(session, project, "merge_queue", base_url, change=change,
                               entry=waiting, sender=alice, action="queued")  # fmt: skip
        waiting.state, waiting.reason = "ejected", "CI failed on the speculative merge"
        waiting.base_sha, waiting.speculative_sha = head, "f" * 40
        webhook_recording.emit(session, project, "merge_queue", base_url, change=change,
                               entry=waiting, sender=None, action="ejected")  # fmt: skip
    drain(settings, lambda: len(receiver.requests) == 3)

    assert all(r.signed_with(SECRET) for r in receiver.requests)
    for request in receiver.requests:
        assert len(request.headers["X-GitHub-Delivery"]) == 36
        assert request.headers["User-Agent"] == "GitHub-Hookshot/forge"
    voted = receiver.events("vote")[0].payload()
    assert voted["action"] == "created"
    assert voted["vote"] == {"user": voted["vote"]["user"], "label": "Code-Review", "value": 2,
                             "message": "ship it", "patch_set": 1, "stale": False}  # fmt: skip
    assert voted["vote"]["user"]["login"] == "bob" and voted["sender"]["login"] == "bob"
    assert voted["pull_request"]["number"] == pull.number
    assert voted["pull_request"]["html_url"] == f"{base_url}/alice/project/pull/{pull.number}"
    assert voted["repository"]["full_name"] == "alice/project"

    queued, ejected = (r.payload() for r in receiver.events("merge_queue"))
    assert queued["action"] == "queued" and queued["sender"]["login"] == "alice"
    assert queued["merge_queue_entry"]["position"] == 1
    assert queued["merge_queue_entry"]["state"] == "queued"
    assert queued["merge_queue_entry"]["branch"] == "main"
    assert ejected["action"] == "ejected" and ejected["sender"] is None
    entry = ejected["merge_queue_entry"]
    assert "position" not in entry and entry["reason"] == "CI failed on the speculative merge"
    assert (entry["base_sha"], entry["head_sha"]) == (head, "f" * 40)
    assert ejected["pull_request"]["head"]["sha"] == head


def test_pending_deliveries_that_redis_lost_are_queued_again(
    github, hosted_repo, receiver, settings, database, api
):
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings)
    hook.ping()
    connection = connect(settings.redis_url)
    connection.flushdb()  # Redis restarted empty: the queued job is gone, the row is not
    run_worker(settings.redis_url, ["hooks"], burst=True)
    assert receiver.requests == []
    listed = api("GET", f"/repos/alice/project/hooks/{hook.id}/deliveries", info.token).json()
    assert listed[0]["state"] == "pending"

    # Not yet due by the grace period: left alone (its job may be on its way to the queue).
    assert reconcile(database, settings, connection) == []
    assert reconcile(database, settings, connection, grace=timedelta(0)) == [listed[0]["id"]]
    # Queued now: a second pass leaves it to the queue.
    assert reconcile(database, settings, connection, grace=timedelta(0)) == []
    drain(settings, lambda: len(receiver.requests) == 1)
    assert receiver.requests[0].headers["X-GitHub-Delivery"] == listed[0]["guid"]
    assert receiver.requests[0].signed_with(SECRET)
    listed = api("GET", f"/repos/alice/project/hooks/{hook.id}/deliveries", info.token).json()
    assert listed[0]["state"] == "delivered" and listed[0]["attempt_count"] == 1


def test_a_delivery_whose_worker_was_killed_mid_attempt_is_sent_by_the_next_worker(
    github, hosted_repo, receiver, settings, database
):
    """kill -9 of the worker while the receiver holds the request: the try never finished,
    so a worker started afterwards sends the delivery again, at its start, not minutes later."""
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings)
    receiver.stall = threading.Event()
    hook.ping()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "SECRET_KEY": settings.secret_key,
           "FORGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}  # fmt: skip
    argv = [sys.executable, "-m", "forge.cli", "--home", str(settings.home), "worker",
            "--queues", "hooks"]  # fmt: skip
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: receiver.stalled, timeout=60, what="the ping to reach the receiver")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    stall, receiver.stall = receiver.stall, None
    stall.set()
    with database.session() as session:  # the try began a while ago (the reconciler's grace)
        session.execute(update(WebhookDelivery).values(created_at=utcnow() - timedelta(minutes=5)))
    second = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: receiver.events("ping"), timeout=60, what="the ping sent again")
    finally:
        second.terminate()
        _out, err = second.communicate(timeout=30)
    assert receiver.events("ping")[0].signed_with(SECRET), err


def test_a_worker_starting_up_sends_what_redis_lost(github, hosted_repo, receiver, settings,
                                                    database):  # fmt: skip
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings)
    hook.ping()
    connect(settings.redis_url).flushdb()
    with database.session() as session:  # recorded a while ago, before Redis went away
        session.execute(update(WebhookDelivery).values(created_at=utcnow() - timedelta(minutes=5)))

    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "SECRET_KEY": settings.secret_key,
           "FORGE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(settings.home), "worker",
         "--queues", "hooks"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: receiver.events("ping"), timeout=60, what="the lost ping")
    finally:
        worker.terminate()
        _out, err = worker.communicate(timeout=30)
    assert receiver.requests[0].signed_with(SECRET), err
