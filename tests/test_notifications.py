"""The inbox and watching: who hears of what, through PyGithub (GitHub's notifications and
subscriptions API, every body checked against GitHub's schema), the merge queue and CI run by a
real rq worker, and the pages in Chromium."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import form_post
from playwright.sync_api import expect
from sqlalchemy import select
from support.browser import shot, sign_in
from support.ci import work
from support.github_schema import github_response_errors
from support.mail import link_in

from forge.accounts import users as accounts
from forge.models import MailMessage, Notification, User
from forge.repos import repositories as repos

FAILING_CI = "jobs:\n  test:\n    run: echo broken; exit 1\n"


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, github, api):
    """alice's public project: bob may write, maya maintains (a +2), dave and carol are
    strangers who read it."""
    repo = hosted_repo()
    work_dir = git.init(tmp_path / "work", {"app.py": "print(1)\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work_dir)
    for name in ("bob", "carol", "dave", "maya"):
        make_user(name)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, alice, "bob", "write")
        repos.set_collaborator(session, found, alice, "maya", "maintain")
    tokens = {name: make_token(name) for name in ("bob", "carol", "dave", "maya")}
    tokens["alice"] = repo.token
    return SimpleNamespace(
        repo=repo,
        work=work_dir,
        database=database,
        tokens=tokens,
        gh={name: github(token) for name, token in tokens.items()},
        api=lambda method, path, who, **kw: api(method, path, tokens[who], **kw),
    )


def open_change(git, p, branch: str, author: str, body: str = "") -> int:
    git.run("checkout", "-q", "-b", branch, "main", cwd=p.work)
    git.commit(p.work, {f"{branch}.txt": f"{branch}\n"}, f"Add {branch}")
    git.run("push", "-q", p.repo.push_url, branch, cwd=p.work)
    git.run("checkout", "-q", "main", cwd=p.work)
    repo = p.gh[author].get_repo("alice/project")
    return repo.create_pull("main", branch, title=branch, body=body).number


def inbox(p, who: str, **kwargs) -> list[tuple[str, str, str]]:
    """(reason, pull title, detail) of each notification, oldest first."""
    answer = p.api("GET", "/notifications", who, params={"all": "true", **kwargs})
    assert answer.status_code == 200, answer.text
    assert github_response_errors("GET", "/notifications", 200, answer.json()) == []
    return [(n["reason"], n["subject"]["title"]) for n in reversed(answer.json())]


def checked(p, who: str, method: str, template: str, path: str, status: int, **kwargs):
    answer = p.api(method, path, who, **kwargs)
    assert answer.status_code == status, answer.text
    body = answer.json() if answer.content else None
    assert github_response_errors(method, template, status, body) == []
    return body


def test_watchers_hear_of_every_change_and_ignorers_of_nothing(git, project):
    p = project
    dave = p.gh["dave"].get_user()
    repo_as_dave = p.gh["dave"].get_repo("alice/project")
    assert not dave.has_in_watched(repo_as_dave)
    dave.add_to_watched(repo_as_dave)  # PUT .../subscription {"subscribed": true}
    assert dave.has_in_watched(repo_as_dave)
    assert [r.full_name for r in dave.get_watched()] == ["alice/project"]
    assert [u.login for u in repo_as_dave.get_subscribers()] == ["dave"]
    assert p.gh["alice"].get_repo("alice/project").subscribers_count == 1
    sub = checked(p, "dave", "GET", "/repos/{owner}/{repo}/subscription",
                  "/repos/alice/project/subscription", 200)  # fmt: skip
    assert sub["subscribed"] is True and sub["ignored"] is False
    # carol ignores the repository: not even a mention reaches her from it.
    sub = checked(p, "carol", "PUT", "/repos/{owner}/{repo}/subscription",
                  "/repos/alice/project/subscription", 200, json={"ignored": True})  # fmt: skip
    assert sub == {**sub, "subscribed": False, "ignored": True}
    assert [u.login for u in repo_as_dave.get_subscribers()] == ["dave"]  # ignoring is not watching

    number = open_change(git, p, "feature", "bob", body="What do you think, @carol?")
    assert inbox(p, "dave") == [("subscribed", "feature")]
    assert inbox(p, "carol") == []
    assert inbox(p, "alice") == []  # the owner neither watches nor takes part yet

    # maya's +2 is news for the author (once, though she also wrote a review), and for dave.
    p.gh["maya"].get_repo("alice/project").get_pull(number).create_review(event="APPROVE")
    assert inbox(p, "bob") == [("author", "feature")]
    assert details_of(p, "bob") == ["maya reviewed: APPROVED"]
    # A vote on its own, through forge's votes API, is news too.
    p.api("POST", f"/repos/alice/project/pulls/{number}/votes", "alice",
          json={"label": "Code-Review", "value": 1})  # fmt: skip
    assert "alice voted Code-Review +1" in details_of(p, "bob")
    # The merge: the author and the watcher hear; the one who merged does not.
    gate = p.api("PUT", "/repos/alice/project/quality-gate", "alice", json={"enabled": False})
    assert gate.status_code == 200, gate.text
    p.gh["maya"].get_repo("alice/project").get_pull(number).merge()
    assert "merged by maya" in details_of(p, "bob")
    assert "merged by maya" in details_of(p, "dave")
    assert "merged by maya" not in details_of(p, "maya")
    assert [reason for reason, _ in inbox(p, "bob", participating="true")] == [
        "author", "author", "state_change"
    ]  # fmt: skip
    assert inbox(p, "dave", participating="true") == []  # all of dave's came from watching

    # Unwatching: dave hears nothing of the next change.
    dave.remove_from_watched(repo_as_dave)
    assert not dave.has_in_watched(repo_as_dave)
    open_change(git, p, "second", "bob")
    assert details_of(p, "dave") == ["bob opened it", "maya reviewed: APPROVED", "merged by maya"]


def details_of(p, name: str) -> list[str]:
    """What each of the user's notifications says, oldest first (GitHub's shape has no such
    field: it is what the inbox page shows)."""
    with p.database.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        rows = session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
        return [row.detail for row in rows]


def test_threads_are_read_and_done_one_at_a_time_and_per_repository(git, project):
    p = project
    open_change(git, p, "one", "bob", body="@alice look")
    open_change(git, p, "two", "bob", body="@alice and this")
    me = p.gh["alice"].get_user()
    first, second = list(me.get_notifications())  # newest first
    assert (first.subject.title, second.subject.title) == ("two", "one")
    thread = checked(p, "alice", "GET", "/notifications/threads/{thread_id}",
                     f"/notifications/threads/{first.id}", 200)  # fmt: skip
    assert thread["reason"] == "mention" and thread["unread"] is True
    first.mark_as_read()  # PATCH
    assert [n.subject.title for n in me.get_notifications()] == ["one"]
    assert [n.subject.title for n in me.get_notifications(all=True)] == ["two", "one"]
    second.mark_as_done()  # DELETE
    assert [n.subject.title for n in me.get_notifications(all=True)] == ["two"]
    # Another's thread is not there at all.
    answer = p.api("GET", f"/notifications/threads/{first.id}", "bob")
    assert answer.status_code == 404
    answer = p.api("PATCH", f"/notifications/threads/{first.id}", "bob")
    assert answer.status_code == 404
    # Per repository: listed, and marked read.
    open_change(git, p, "three", "bob", body="@alice once more")
    listed = checked(p, "alice", "GET", "/repos/{owner}/{repo}/notifications",
                     "/repos/alice/project/notifications", 200)  # fmt: skip
    assert [n["subject"]["title"] for n in listed] == ["three"]
    p.api("PUT", "/repos/alice/project/notifications", "alice", json={})
    assert list(me.get_notifications()) == []
    answer = p.api("GET", "/notifications?since=yesterday", "alice")
    assert answer.status_code == 422 and "since" in answer.json()["message"]


def test_a_watcher_who_loses_access_hears_nothing_more(git, project, database):
    p = project
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        found.is_private = True
        repos.set_collaborator(session, found, alice, "dave", "read")
    checked(p, "dave", "PUT", "/repos/{owner}/{repo}/subscription",
            "/repos/alice/project/subscription", 200, json={"subscribed": True})  # fmt: skip
    open_change(git, p, "seen", "bob")
    assert [title for _, title in inbox(p, "dave")] == ["seen"]
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.remove_collaborator(session, found, alice, "dave")
    open_change(git, p, "unseen", "bob")
    assert inbox(p, "dave") == []  # the old news is about a repository dave may not read now
    answer = p.api("GET", "/repos/alice/project/subscribers", "dave")
    assert answer.status_code == 404


def test_ci_failures_and_queue_ejections_reach_the_author(ci, git, project, settings):
    p = project
    git.run("checkout", "-q", "main", cwd=p.work)
    git.commit(p.work, {".forge/ci.yml": FAILING_CI}, "CI that fails")
    git.run("push", "-q", p.repo.push_url, "main", cwd=p.work)
    number = open_change(git, p, "broken", "bob")
    work(settings)
    assert ("ci_activity", "broken") in inbox(p, "bob")
    assert any(d.startswith("CI failed on ") for d in details_of(p, "bob"))

    # Two changes to one line: the queue lands one and ejects the other, whose author hears.
    git.commit(p.work, {".forge/ci.yml": "jobs:\n  test:\n    run: echo ok\n"}, "green CI")
    git.run("push", "-q", p.repo.push_url, "main", cwd=p.work)
    first = edit_line(git, p, "first", "one")
    second = edit_line(git, p, "second", "two")
    for change in (first, second):
        answer = p.api("POST", f"/repos/alice/project/pulls/{change}/votes", "maya",
                       json={"label": "Code-Review", "value": 2})  # fmt: skip
        assert answer.status_code in (200, 201), answer.text
    work(settings)
    states = {i["pull_request"]["number"]: i["state"] for i in queue(p)}
    assert states == {first: "merged", second: "ejected"}, states
    ejected = [d for d in details_of(p, "bob") if d.startswith("left the merge queue")]
    assert len(ejected) == 1 and "conflicts with" in ejected[0]
    # The broken change's failure was told once, though more CI ran since.
    assert number and sum(d.startswith("CI failed") for d in details_of(p, "bob")) == 1


def test_news_is_mailed_to_verified_addresses_when_the_site_sends_mail(
    git, project, mail_settings, smtp_server, send_mail_now, database
):
    p = project
    with database.session() as session:
        for name in ("dave", "carol"):
            accounts.get_user(session, name).email_verified = name == "dave"
    for who in ("dave", "carol"):
        answer = p.api("PUT", "/repos/alice/project/subscription", who, json={"subscribed": True})
        assert answer.status_code == 200, answer.text
    open_change(git, p, "feature", "bob")
    send_mail_now()
    message = smtp_server.wait_for("dave@example.org", "[alice/project] feature (#1)")
    text = message.get_content()
    assert text.startswith("bob opened it.")
    assert link_in(message, "/alice/project/pull/").endswith("/alice/project/pull/1")
    assert "You get this because you watch alice/project" in text
    # carol's address is not verified: her inbox has the news, her mailbox does not.
    assert [reason for reason, _ in inbox(p, "carol")] == ["subscribed"]
    assert smtp_server.to("carol@example.org") == []
    with database.session() as session:
        assert [m.recipient for m in session.scalars(select(MailMessage))] == ["dave@example.org"]
    # News of an issue is mailed too, its link to the issue.
    report = p.gh["bob"].get_repo("alice/project").create_issue("Broken bell", body="@dave see")
    send_mail_now()
    message = smtp_server.wait_for(
        "dave@example.org", f"[alice/project] Broken bell (#{report.number})"
    )
    assert link_in(message, "/alice/project/issues/").endswith(f"/issues/{report.number}")


def edit_line(git, p, branch: str, text: str) -> int:
    git.run("checkout", "-q", "-b", branch, "main", cwd=p.work)
    git.commit(p.work, {"app.py": f"print('{text}')\n"}, f"Say {text}")
    git.run("push", "-q", p.repo.push_url, branch, cwd=p.work)
    git.run("checkout", "-q", "main", cwd=p.work)
    return p.gh["bob"].get_repo("alice/project").create_pull("main", branch, title=branch).number


def queue(p) -> list[dict]:
    answer = p.api("GET", "/repos/alice/project/merge-queue?state=all", "alice")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_inbox_and_the_watch_menu_in_the_browser(git, project, live_server, browser):
    p = project
    page = browser.new_page()
    sign_in(page, live_server, "dave")
    page.goto(f"{live_server}/alice/project")
    page.click(".watch-menu summary")
    page.click(".watch-options button[value=all]")
    expect(page.locator(".watch-menu summary")).to_have_text("Unwatch")
    open_change(git, p, "feature", "bob")
    page.goto(f"{live_server}/notifications")
    expect(page.locator(".inbox-list li")).to_have_count(1)
    expect(page.locator(".inbox-list li .badge")).to_have_text("Watching")
    expect(page.locator(".inbox-list li")).to_contain_text("alice/project#1: feature")
    expect(page.locator(".inbox-link .count")).to_have_text("1")
    shot(page, "notifications-inbox")
    page.click(".inbox-list li button:has-text('Mark as read')")
    expect(page.locator(".inbox-list li")).to_have_count(0)
    page.click(".inbox-tabs a:has-text('All')")
    expect(page.locator(".inbox-list li.read")).to_have_count(1)
    page.click(".inbox-list li button:has-text('Done')")
    expect(page.locator(".inbox-list li")).to_have_count(0)
    # Ignoring, from the same menu.
    page.goto(f"{live_server}/alice/project")
    page.click(".watch-menu summary")
    page.click(".watch-options button[value=ignore]")
    expect(page.locator(".watch-menu summary")).to_have_text("Ignoring")
    shot(page, "notifications-watch-menu")


def test_the_watch_form_needs_its_csrf_token(client, login, project):
    login("dave")
    refused = client.post("/alice/project/watch", data={"level": "all"})
    assert refused.status_code == 400
    answer = form_post(client, "/alice/project", "/alice/project/watch", {"level": "all"})
    assert answer.status_code == 302
    bad = form_post(client, "/alice/project", "/alice/project/watch", {"level": "loud"})
    assert bad.status_code == 400
