"""Crowdsourced triage in a real browser (Chromium through Playwright): a stranger's report
waits unconfirmed in the triage queue; a triager claims it there, says on the issue's page that
they can reproduce it, with their environment; a writer does too and the panel says confirmed,
two of two. A screenshot of the triage panel lands in tests/artifacts/."""

from __future__ import annotations

from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console


def test_peers_confirm_a_report_from_the_triage_queue_in_the_browser(
    browser, live_server, hosted_repo, api, make_user, make_token, database
):
    from forge.accounts import users as accounts
    from forge.repos import repositories as repos

    hosted_repo()
    for name, role in (("mallory", None), ("bob", "triage"), ("carol", "write")):
        make_user(name)
        if role:
            with database.session() as session:
                alice = accounts.get_user(session, "alice")
                project = repos.get_repository(session, "alice", "project", alice)
                repos.set_collaborator(session, project, alice, name, role)
    report = api(
        "POST", "/repos/alice/project/issues", make_token("mallory"),
        json={"title": "Saving loses the last line", "body": "Type, save, reopen."},
    )  # fmt: skip
    number = report.json()["number"]

    triager = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = watch_console(triager)
    sign_in(triager, live_server, "bob")
    triager.goto(f"{live_server}/alice/project/issues")
    triager.click("text=Triage queue")
    item = triager.locator(f"li[data-issue='alice/project#{number}']")
    expect(item).to_contain_text("unconfirmed")
    expect(item).to_contain_text("0 looks")
    item.get_by_role("button", name="Claim").click()
    expect(triager.locator(".flash")).to_contain_text(f"You claimed #{number} for triage")
    expect(item.locator("strong")).to_contain_text("claimed by you")
    item.locator("a.change-list-title").click()

    panel = triager.locator("#triage")
    expect(panel.locator(".triage-state")).to_have_text("unconfirmed")
    panel.locator("input[name=environment]").fill("Debian 12, ext4")
    panel.get_by_role("button", name="I can reproduce this").click()
    expect(panel.locator(".triage-weight")).to_have_text("1")
    expect(panel.locator(".triage-threshold")).to_have_text("2")
    expect(panel.locator(".triage-confirmations")).to_contain_text("bob can reproduce")

    writer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(writer, live_server, "carol")
    writer.goto(f"{live_server}/alice/project/issues/{number}")
    writer.locator("#triage input[name=environment]").fill("macOS 14")
    writer.get_by_role("button", name="I can reproduce this").click()
    expect(writer.locator("#triage .triage-state")).to_have_text("confirmed")
    expect(writer.locator("#triage .triage-weight")).to_have_text("2")
    expect(writer.locator(".timeline")).to_contain_text("confirmed this report")
    writer.locator("#triage").screenshot(path=_artifact("triage-panel"))
    shot(writer, "triage-issue-confirmed")

    # The report left carol's queue (she looked at it); the queue says so.
    writer.click("a.triage-link")
    expect(writer.get_by_text("No report waits for your triage")).to_be_visible()
    assert errors == []


def _artifact(name: str) -> str:
    from support.browser import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")
