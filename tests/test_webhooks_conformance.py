"""Every webhook forge sends, checked against GitHub's own payload schemas
(`@octokit/webhooks-schemas`, vendored in tests/github_schemas/webhooks): a receiver on
127.0.0.1 subscribed to everything gets the deliveries of real pushes, API calls and a real rq
worker, and each body must be what a receiver written for GitHub expects."""

from __future__ import annotations

import io
import json

import pytest
import requests
from sqlalchemy import select
from support.ci import work
from support.github_webhook_schema import (
    assert_valid_forge_event,
    assert_valid_webhook,
    definitions,
    violations,
)
from support.webhooks import SECRET, drain, loopback_settings, make_hook

from forge.accounts import users as accounts
from forge.api.shapes import webhook_objects
from forge.db import Database
from forge.models import Change
from forge.notify import webhook_recording
from forge.notify.webhooks import EVENTS
from forge.repos import repositories as repos

# forge's own events: GitHub has no schema for them, only for the objects they carry.
FORGE_EVENTS = {"vote", "merge_queue"}


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def assert_all_valid(requests) -> None:
    """Fail with every schema violation of every delivery, named by event and action."""
    found = []
    for request in requests:
        payload = request.payload()
        check = assert_valid_forge_event if request.event in FORGE_EVENTS else assert_valid_webhook
        try:
            check(request.event, payload)
        except AssertionError as failure:
            found.append(f"[{request.event}/{payload.get('action')}] {failure}")
    summary = f"{len(found)} of {len(requests)} deliveries break GitHub's schemas:\n"
    assert not found, summary + "\n".join(found)


def push_branch_ahead_of_main(git, tmp_path, repo_info, branch: str, files: dict) -> None:
    """main with a README, and `branch` one commit ahead of it, both pushed."""
    work_tree = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo_info.push_url, "HEAD:main", cwd=work_tree)
    git.run("checkout", "-q", "-b", branch, cwd=work_tree)
    git.commit(work_tree, files, f"work on {branch}")
    git.run("push", "-q", repo_info.push_url, branch, cwd=work_tree)


def test_every_event_of_a_pull_requests_life_validates_against_githubs_schemas(
    github, hosted_repo, make_user, make_token, database, receiver, settings, git, tmp_path, api
):
    info = hosted_repo()
    make_user("bob")
    bob = github(make_token("bob"))
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.get_repository(session, "alice", "project", alice)
        repos.set_collaborator(session, project, alice, "bob", "maintain")
    work_tree = git.init(tmp_path / "work", {"README.md": "# hello\nline two\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_tree)
    repo, hook = make_hook(github, info, receiver, settings)

    # Pushes: a commit to main, a new branch with a commit, a tag, a deleted branch.
    main_sha = git.commit(work_tree, {"docs/a.md": "a\n"}, "add docs")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_tree)
    git.run("checkout", "-q", "-b", "topic", cwd=work_tree)
    git.commit(work_tree, {"README.md": "# hello\nline two\nthree\n"}, "topic work")
    git.run("push", "-q", info.push_url, "topic", cwd=work_tree)
    git.run("tag", "-a", "v1.0", "-m", "first release", main_sha, cwd=work_tree)
    git.run("push", "-q", info.push_url, "v1.0", "HEAD:refs/heads/scratch", cwd=work_tree)
    git.run("push", "-q", info.push_url, "--delete", "scratch", cwd=work_tree)
    # A commit made through the contents API is a push like any other.
    repo.create_file("docs/b.md", "add b through the API", "b\n", branch="main")
    # A release's life: made and published (its tag made at main), an asset uploaded, edited,
    # back to a draft, deleted.
    release = repo.create_git_release("v2.0", "Two", "notes", target_commitish="main")
    release.upload_asset_from_memory(io.BytesIO(b"built"), 5, "two.bin", label="the build")
    release.update_release("Two, renamed", "new notes")
    release.update_release("Two, renamed", "new notes", draft=True)
    release.delete_release()
    candidate = repo.create_git_release("v2.1-rc", "Candidate", "", prerelease=True)
    candidate.update_release("Candidate", "", prerelease=False)  # made final: released

    # A pull request's life: opened, edited, a new patch set, comments, reviews, a status,
    # closed, reopened, merged.
    pull = repo.create_pull(title="Topic", body="please", base="main", head="topic")
    pull.edit(title="Topic, renamed", body="please, again")
    one_pull = f"/repos/alice/project/pulls/{pull.number}"
    for draft in (True, False):  # back to a draft, then ready for review
        assert api("PATCH", one_pull, info.token, json={"draft": draft}).status_code == 200
    asked = one_pull + "/requested_reviewers"
    assert api("POST", asked, info.token, json={"reviewers": ["bob"]}).status_code == 201
    assert api("DELETE", asked, info.token, json={"reviewers": ["bob"]}).status_code == 200
    assert api("POST", asked, info.token, json={"reviewers": ["bob"]}).status_code == 201
    second = git.commit(work_tree, {"README.md": "# hello\nline two\nthree\nfour\n"}, "more")
    git.run("push", "-q", info.push_url, "topic", cwd=work_tree)
    pull.create_issue_comment("looks fine").edit("looks fine, really")
    pull.create_issue_comment("wrong pull request, sorry").delete()
    comments = f"/repos/alice/project/pulls/{pull.number}/comments"
    standalone = {"body": "standalone note", "commit_id": second, "path": "README.md", "line": 4}
    answer = api("POST", comments, info.token, json=standalone)
    assert answer.status_code == 201, answer.text
    standalone_id = answer.json()["id"]
    reply = {"body": "a reply", "in_reply_to": standalone_id}
    answer = api("POST", comments, info.token, json=reply)
    assert answer.status_code == 201, answer.text
    edited = {"body": "standalone note, edited"}
    one = f"/repos/alice/project/pulls/comments/{standalone_id}"
    assert api("PATCH", one, info.token, json=edited).status_code == 200
    gone = api("DELETE", f"/repos/alice/project/pulls/comments/{answer.json()['id']}", info.token)
    assert gone.status_code == 204
    pull.create_review(
        body="a few notes",
        event="COMMENT",
        comments=[{"path": "README.md", "line": 2, "body": "nice line"}],
    )
    as_bob = bob.get_repo("alice/project").get_pull(pull.number)
    objection = as_bob.create_review(body="not yet", event="REQUEST_CHANGES")
    as_bob.create_review(body="ship it", event="APPROVE")
    dismissal = {"message": "addressed in the second patch set", "event": "DISMISS"}
    dismiss = f"/repos/alice/project/pulls/{pull.number}/reviews/{objection.id}/dismissals"
    assert api("PUT", dismiss, info.token, json=dismissal).status_code == 200
    for status in (
        {"state": "success", "target_url": "https://ci.example.org/1", "context": "ci/test",
         "description": "green"},
        {"state": "pending", "context": "ci/other"},
    ):  # fmt: skip
        answer = api("POST", f"/repos/alice/project/statuses/{second}", info.token, json=status)
        assert answer.status_code == 201, answer.text
    pull.edit(state="closed")
    pull.edit(state="open")
    pull.merge(merge_method="merge")
    # The tracker (forge.issues): a label and a milestone, an issue opened with them,
    # commented on and closed (tests/test_issue_closing.py drives every action of these).
    label = repo.create_label("bug", "d73a4a")
    issue = repo.create_issue("Crash", labels=[label], milestone=repo.create_milestone("v1"))
    issue.create_comment("seen it")
    issue.edit(state="closed")
    hook.ping()
    drain(settings, lambda: receiver.events("ping") and any(
        r.payload().get("pull_request", {}).get("merged")
        for r in receiver.events("pull_request")))  # fmt: skip

    assert_all_valid(receiver.requests)
    assert all(r.signed_with(SECRET) for r in receiver.requests)
    sent = {(r.event, r.payload().get("action")) for r in receiver.requests}
    expected = {
        ("ping", None), ("push", None), ("create", None), ("delete", None),
        ("pull_request", "opened"), ("pull_request", "edited"), ("pull_request", "synchronize"),
        ("pull_request", "closed"), ("pull_request", "reopened"),
        ("pull_request", "converted_to_draft"), ("pull_request", "ready_for_review"),
        ("pull_request", "review_requested"), ("pull_request", "review_request_removed"),
        ("issue_comment", "created"), ("issue_comment", "edited"), ("issue_comment", "deleted"),
        ("pull_request_review", "submitted"), ("pull_request_review", "dismissed"),
        ("pull_request_review_comment", "created"),
        ("pull_request_review_comment", "edited"), ("pull_request_review_comment", "deleted"),
        ("status", None),
        ("release", "created"), ("release", "published"), ("release", "edited"),
        ("release", "unpublished"), ("release", "deleted"), ("release", "released"),
        ("release", "prereleased"),
    }  # fmt: skip
    assert expected <= sent, expected - sent
    # A release's edit says what it was, and carries the asset uploaded before it.
    [renamed] = [r.payload() for r in receiver.events("release") if r.payload().get("changes")]
    assert renamed["changes"] == {"name": {"from": "Two"}, "body": {"from": "notes"}}
    assert [a["name"] for a in renamed["release"]["assets"]] == ["two.bin"]
    # An event added to forge's list must be sent (and so checked) here too.
    assert set(EVENTS) - FORGE_EVENTS <= {event for event, _action in sent}
    # The standalone comment is its own pull_request_review_comment, beside the review's.
    by_action = {}
    for request in receiver.events("pull_request_review_comment"):
        by_action.setdefault(request.payload()["action"], []).append(request.payload())
    created = [p["comment"] for p in by_action["created"]]
    assert all(c["pull_request_review_id"] for c in created)
    assert sorted(c["body"] for c in created) == ["a reply", "nice line", "standalone note"]
    [edit] = by_action["edited"]
    assert edit["changes"] == {"body": {"from": "standalone note"}}
    assert edit["comment"]["body"] == "standalone note, edited"
    assert [p["comment"]["body"] for p in by_action["deleted"]] == ["a reply"]
    issue_comments = {r.payload()["action"]: r.payload() for r in receiver.events("issue_comment")}
    assert issue_comments["edited"]["changes"] == {"body": {"from": "looks fine"}}
    assert issue_comments["deleted"]["comment"]["body"] == "wrong pull request, sorry"
    assert issue_comments["deleted"]["issue"]["comments"] == 1  # the edited one is left
    reviews = [r.payload() for r in receiver.events("pull_request_review")]
    states = [p["review"]["state"] for p in reviews if p["action"] == "submitted"]
    # bob's objection was submitted as changes_requested, and dismissed since: a payload
    # is a snapshot of when its event happened.
    assert sorted(states) == ["approved", "changes_requested", "commented"]
    [dismissed] = [p for p in reviews if p["action"] == "dismissed"]
    assert (dismissed["review"]["id"], dismissed["review"]["state"]) == (objection.id, "dismissed")
    assert dismissed["sender"]["login"] == "alice"
    requests = [r.payload() for r in receiver.events("pull_request")
                if r.payload()["action"].startswith("review_request")]  # fmt: skip
    assert [(p["action"], p["requested_reviewer"]["login"]) for p in requests] == [
        ("review_requested", "bob"),
        ("review_request_removed", "bob"),
        ("review_requested", "bob"),
    ]
    assert [u["login"] for u in requests[0]["pull_request"]["requested_reviewers"]] == ["bob"]
    assert requests[1]["pull_request"]["requested_reviewers"] == []
    # What GitHub counts on a pull request: topic work added one line to one file.
    opened = next(r.payload() for r in receiver.events("pull_request"))
    counts = {k: opened["pull_request"][k] for k in ("commits", "additions", "deletions",
                                                     "changed_files")}  # fmt: skip
    assert counts == {"commits": 1, "additions": 1, "deletions": 0, "changed_files": 1}
    # A status names the commit it is on, its author, and the branch whose tip it is.
    status = next(r.payload() for r in receiver.events("status"))
    assert status["commit"]["sha"] == second
    assert status["commit"]["commit"]["message"] == "more"
    assert [b["name"] for b in status["branches"]] == ["topic"]
    main_push = next(r.payload() for r in receiver.events("push")
                     if r.payload()["after"] == main_sha)  # fmt: skip
    tree = git.run("rev-parse", f"{main_sha}^{{tree}}", cwd=work_tree).stdout.strip()
    assert main_push["head_commit"]["tree_id"] == tree
    messages = {p["head_commit"]["message"].strip(): p for p in (
        r.payload() for r in receiver.events("push")) if p["head_commit"]}  # fmt: skip
    assert messages["add b through the API"]["pusher"]["name"] == "alice", list(messages)


def test_forges_ci_statuses_and_merge_queue_validate(
    ci, github, hosted_repo, make_user, make_token, database, receiver, settings, git, tmp_path,
    api, monkeypatch,
):  # fmt: skip
    """The events the worker sends: CI's statuses, votes, the merge queue's way to main."""
    monkeypatch.setenv("FORGE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    info = hosted_repo()
    make_user("bob")
    bob_token = make_token("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.get_repository(session, "alice", "project", alice)
        repos.set_collaborator(session, project, alice, "bob", "maintain")
    yml = "jobs:\n  test:\n    run: echo tested\n"
    work_tree = git.init(tmp_path / "work", {"README.md": "# project\n", ".forge/ci.yml": yml})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_tree)
    make_hook(github, info, receiver, settings)
    gate = api("PUT", "/repos/alice/project/quality-gate", info.token, json={"auto_submit": False})
    assert gate.status_code == 200, gate.text

    git.run("checkout", "-q", "-b", "feature", cwd=work_tree)
    git.commit(work_tree, {"a.txt": "a\n"}, "add a")
    git.run("push", "-q", info.push_url, "feature", cwd=work_tree)
    body = {"title": "feature", "head": "feature", "base": "main"}
    number = api("POST", "/repos/alice/project/pulls", info.token, json=body).json()["number"]
    vote = {"label": "Code-Review", "value": 2}
    voted = api("POST", f"/repos/alice/project/pulls/{number}/votes", bob_token, json=vote)
    assert voted.status_code in (200, 201), voted.text
    work(settings)
    merge = {"merge_method": "squash"}
    queued = api("PUT", f"/repos/alice/project/pulls/{number}/auto-merge", info.token, json=merge)
    assert queued.status_code == 200, queued.text
    work(settings)
    work(settings)
    drain(settings, lambda: any(
        r.payload().get("action") == "merged" for r in receiver.events("merge_queue")))  # fmt: skip

    sent = {r.event for r in receiver.requests}
    assert {"status", "vote", "merge_queue", "pull_request", "push"} <= sent, sent
    assert "success" in [r.payload()["state"] for r in receiver.events("status")]
    assert_all_valid(receiver.requests)


def test_the_validator_catches_what_github_would_not_send():
    """The check itself can fail: the bugs issue 18 found are violations of GitHub's schemas."""
    for event in set(EVENTS) - FORGE_EVENTS:  # every other event forge sends has a schema
        assert any(name.startswith(f"{event}$") for name in definitions()), event
    upper_case_review = {"state": "COMMENTED"}
    assert any(line.startswith("state:") for line in violations(
        "pull-request-review", upper_case_review))  # fmt: skip
    relative_link = {"html_url": "/alice/project"}
    assert any("html_url" in line for line in violations("repository", relative_link))
    with pytest.raises(AssertionError, match="tree_id"):
        assert_valid_webhook("push", {"head_commit": {"tree_id": None}})


def test_a_pings_test_url_and_ping_url_answer_as_githubs_do(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    """A receiver following the links of its ping: test_url sends a push of the default
    branch's latest commit, ping_url another ping; both as GitHub's, and valid."""
    info = hosted_repo()
    work_tree = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_tree)
    tip = git.commit(work_tree, {"notes.txt": "notes\n"}, "notes")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_tree)
    repo = github(info.token).get_repo("alice/project")
    config = {"url": receiver.url, "content_type": "json", "secret": SECRET}
    hook = repo.create_hook("web", config, events=["push"], active=True)
    drain(settings, lambda: receiver.events("ping"))
    ping = receiver.events("ping")[0].payload()
    receiver.requests.clear()

    auth = {"Authorization": f"token {info.token}"}
    for link in ("test_url", "ping_url"):
        answer = requests.post(ping["hook"][link], headers=auth, timeout=30)
        assert answer.status_code == 204, (link, answer.text)
    drain(settings, lambda: receiver.events("push") and receiver.events("ping"))
    [push] = [r.payload() for r in receiver.events("push")]
    assert (push["ref"], push["after"]) == ("refs/heads/main", tip)
    assert [c["message"] for c in push["commits"]] == ["notes\n"]
    assert push["sender"]["login"] == "alice"
    assert_all_valid(receiver.requests)
    assert all(r.signed_with(SECRET) for r in receiver.requests)

    # GitHub's documented path works too; a hook that wants no pushes gets nothing from it.
    hook.edit("web", config, events=["pull_request"])
    receiver.requests.clear()
    tests = f"/repos/alice/project/hooks/{hook.id}/tests"
    answer = requests.post(ping["hook"]["url"] + "/tests", headers=auth, timeout=30)
    assert answer.status_code == 204, (tests, answer.text)
    drain(settings)
    assert receiver.requests == []
    stranger = requests.post(ping["hook"]["url"] + "/tests", timeout=30)
    assert stranger.status_code in (401, 404)


@pytest.mark.parametrize(
    ("fields", "definition"),
    [
        (webhook_objects.USER_FIELDS, "user"),
        (webhook_objects.REPOSITORY_FIELDS, "repository"),
        (webhook_objects.PULL_REQUEST_FIELDS, "pull-request"),
        (webhook_objects.SIMPLE_PULL_REQUEST_FIELDS, "simple-pull-request"),
        (webhook_objects.ISSUE_FIELDS, "issue"),
        (webhook_objects.ISSUE_COMMENT_FIELDS, "issue-comment"),
        (webhook_objects.REVIEW_FIELDS, "pull-request-review"),
        (webhook_objects.REVIEW_COMMENT_FIELDS, "pull-request-review-comment"),
    ],
)
def test_the_fields_forge_keeps_are_those_the_vendored_schema_names(fields, definition):
    """After an update of the vendored schemas, a field GitHub added or dropped shows here
    first, by name, rather than as a failing delivery."""
    schema = definitions()[definition]
    assert set(schema["required"]) <= set(fields), set(schema["required"]) - set(fields)
    assert set(fields) <= set(schema["properties"]), set(fields) - set(schema["properties"])


def test_a_process_without_the_app_builds_the_same_payloads(
    ci, github, hosted_repo, receiver, settings, git, tmp_path
):
    """A command outside the web app and the workers (no request, no webhook dispatcher)
    still counts a pull request's lines: it finds the repositories through FORGE_HOME."""
    info = hosted_repo()
    push_branch_ahead_of_main(git, tmp_path, info, "topic", {"README.md": "# project\nmore\n"})
    repo, _hook = make_hook(github, info, receiver, settings, events=["pull_request"])
    number = repo.create_pull(title="Topic", body="", base="main", head="topic").number

    plain = Database(settings.database_url)
    try:
        with plain.session() as session:
            change = session.scalar(select(Change).where(Change.number == number))
            alice = accounts.get_user(session, "alice")
            assert session.info.get("webhooks") is None  # nothing attached: a bare process
            [delivery] = webhook_recording.emit(
                session, change.repository, "pull_request", "https://forge.example.org",
                change=change, action="reopened", sender=alice,
            )  # fmt: skip
            payload = json.loads(delivery.payload)
    finally:
        plain.dispose()
    assert_valid_webhook("pull_request", payload)
    counted = payload["pull_request"]
    assert (counted["additions"], counted["changed_files"]) == (1, 1)
    assert payload["pull_request"]["html_url"].startswith("https://forge.example.org/")


def test_a_pull_request_opened_as_a_draft_says_so_in_its_opened_event(
    github, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    push_branch_ahead_of_main(git, tmp_path, info, "idea", {"idea.txt": "maybe\n"})
    repo, _hook = make_hook(github, info, receiver, settings, events=["pull_request"])
    pull = repo.create_pull(title="An idea", body="", base="main", head="idea", draft=True)
    assert pull.draft is True
    drain(settings, lambda: receiver.events("pull_request"))

    [opened] = [r.payload() for r in receiver.events("pull_request")]  # no converted_to_draft
    assert (opened["action"], opened["pull_request"]["draft"]) == ("opened", True)
    assert_all_valid(receiver.requests)
