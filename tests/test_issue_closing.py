"""Closing keywords and cross-references, as on GitHub: a commit saying `Fixes #1`, pushed with
the real git client and proposed as a change, closes issue #1 when the change merges, and both
pages link to each other; `#N` in an issue shows on the issue or change it names. Webhooks of
the tracker (`issues`, `issue_comment`, `label`, `milestone`) validate against GitHub's
schemas."""

from __future__ import annotations

import pytest
import requests
from support.github_webhook_schema import assert_valid_webhook
from support.webhooks import drain, loopback_settings, make_hook


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def test_a_merged_change_that_says_fixes_closes_the_issue(
    hosted_repo, git, tmp_path, github, live_server, api
):
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    repo = github(info.token).get_repo("alice/project")
    crash = repo.create_issue("Crash on start")
    other = repo.create_issue("Slow start", body="Perhaps the same as #1")
    assert (crash.number, other.number) == (1, 2)

    git.run("checkout", "-q", "-b", "fix-crash", cwd=work)
    git.commit(work, {"app.py": "print('fixed')\n"}, "Do not crash on start\n\nFixes #1")
    git.run("push", "-q", info.push_url, "fix-crash", cwd=work)
    pull = repo.create_pull(title="Stop crashing", body="See alice/project#2", base="main",
                            head="fix-crash")  # fmt: skip
    assert pull.number == 3
    # Before the merge the issue already shows the change that will close it.
    page = requests.get(f"{live_server}/alice/project/issues/1", timeout=30).text
    assert "will close this" in page and "/alice/project/pull/3" in page
    assert repo.get_issue(1).state == "open"

    merged = repo.get_pull(3).merge(merge_method="merge")
    assert merged.merged
    closed = repo.get_issue(1)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    event = next(e for e in closed.get_events() if e.event == "closed")
    assert event.commit_id == merged.sha
    # #2 was only mentioned: it stays open, and shows where it was mentioned.
    assert repo.get_issue(2).state == "open"
    timeline = api("GET", "/repos/alice/project/issues/2/timeline", info.token).json()
    sources = [e["source"]["issue"]["number"] for e in timeline if e["event"] == "cross-referenced"]
    assert sources == [3]

    issue_page = requests.get(f"{live_server}/alice/project/issues/1", timeout=30).text
    assert "closed this as completed" in issue_page and "/alice/project/pull/3" in issue_page
    change_page = requests.get(f"{live_server}/alice/project/pull/3", timeout=30).text
    assert "Closed issue" in change_page and "/alice/project/issues/1" in change_page
    # Its description's "alice/project#2" is a link to that issue.
    assert 'class="issue-link" href="/alice/project/issues/2"' in change_page
    # The issue that mentioned #1 links it, and #1's page lists it.
    two = requests.get(f"{live_server}/alice/project/issues/2", timeout=30).text
    assert 'href="/alice/project/issues/1"' in two
    one = requests.get(f"{live_server}/alice/project/issues/1", timeout=30).text
    assert "/alice/project/issues/2" in one


def test_the_trackers_webhooks_validate_against_githubs_schemas(
    hosted_repo, github, receiver, settings, make_user, make_token, database
):
    from forge.accounts import users as accounts
    from forge.repos import repositories as repos

    info = hosted_repo()
    make_user("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.get_repository(session, "alice", "project", alice)
        repos.set_collaborator(session, project, alice, "bob", "write")
    repo, _hook = make_hook(github, info, receiver, settings)
    bug = repo.create_label("bug", "d73a4a", "Broken")
    bug.edit("defect", "ff0000", "Broken things")
    v1 = repo.create_milestone("v1", description="First")
    v1.edit("v1.0")
    issue = repo.create_issue("Crash", body="It crashes", labels=["defect"], milestone=v1,
                              assignees=["bob"])  # fmt: skip
    issue.edit(title="Crash on start", body="It crashes at once")
    issue.remove_from_labels("defect")
    issue.add_to_labels("defect")
    issue.remove_from_assignees("bob")
    issue.add_to_assignees("bob")
    issue.edit(milestone=None)
    comment = issue.create_comment("Seen it")
    comment.edit("Seen it twice")
    issue.lock("resolved")
    issue.unlock()
    issue.edit(state="closed", state_reason="not_planned")
    issue.edit(state="open")
    comment.delete()
    v1.edit("v1.0", state="closed")
    v1.delete()
    repo.get_label("defect").delete()

    def label_deleted() -> bool:
        return any(r.payload().get("action") == "deleted" for r in receiver.events("label"))

    drain(settings, label_deleted)
    deliveries = receiver.requests
    seen = {(d.event, d.payload().get("action")) for d in deliveries}
    for expected in [("issues", a) for a in ("opened", "edited", "labeled", "unlabeled",
                     "assigned", "unassigned", "milestoned", "demilestoned", "locked",
                     "unlocked", "closed", "reopened")] + [
                     ("issue_comment", "created"), ("issue_comment", "edited"),
                     ("issue_comment", "deleted"), ("label", "created"), ("label", "edited"),
                     ("label", "deleted"), ("milestone", "created"), ("milestone", "edited"),
                     ("milestone", "closed"), ("milestone", "deleted")]:  # fmt: skip
        assert expected in seen, expected
    failures = []
    for delivery in deliveries:
        if delivery.event in ("issues", "issue_comment", "label", "milestone"):
            try:
                assert_valid_webhook(delivery.event, delivery.payload())
            except AssertionError as failure:
                failures.append(f"[{delivery.event}/{delivery.payload().get('action')}] {failure}")
    assert not failures, "\n".join(failures)


def test_a_mention_from_a_private_repository_shows_only_to_those_who_may_read_it(
    hosted_repo, github, live_server, api
):
    public = hosted_repo()
    secret = hosted_repo(name="secret", private=True)
    target = github(public.token).get_repo("alice/project").create_issue("Public bug")
    source = github(secret.token).get_repo("alice/secret")
    source.create_issue("Internal plan", body=f"Tracks alice/project#{target.number}")

    page = f"{live_server}/alice/project/issues/{target.number}"
    assert "Internal plan" not in requests.get(page, timeout=30).text
    timeline = f"/repos/alice/project/issues/{target.number}/timeline"
    assert [e["event"] for e in api("GET", timeline).json()] == []
    # Its owner, who may read both, sees where it was mentioned.
    owned = [e for e in api("GET", timeline, public.token).json()]
    assert [e["source"]["issue"]["title"] for e in owned] == ["Internal plan"]
