"""The issue tracker in a real browser (Chromium through Playwright): the owner makes labels
and a milestone on their pages; someone else opens an issue from a template in
.forge/ISSUE_TEMPLATE, previews its Markdown and submits it; the owner edits it (its history
shows), labels, assigns and milestones it, comments and closes it as not planned; the list's
filters find it. A form posted without its CSRF token changes nothing. Screenshots land in
tests/artifacts/."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console

TEMPLATE = """---
name: Bug report
about: Something does not work
title: "[bug] "
labels: bug
---
## Steps

1. Start it
"""


def test_an_issue_from_template_to_closed_in_the_browser(
    browser, live_server, hosted_repo, git, tmp_path, make_user, make_token
):
    info = hosted_repo()
    work = git.init(
        tmp_path / "work",
        {"README.md": "# project\n", ".forge/ISSUE_TEMPLATE/bug.md": TEMPLATE},
    )
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    make_user("bob")
    owner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = watch_console(owner)
    sign_in(owner, live_server, "alice")

    owner.goto(f"{live_server}/alice/project")
    owner.click("nav.tabs a:text-is('Issues')")
    expect(owner.get_by_text("No open issues.")).to_be_visible()
    owner.click("text=Labels")
    owner.fill("input[name=name]", "bug")
    owner.fill("input[name=description]", "Something is broken")
    owner.fill("input[type=color]", "#d73a4a")
    owner.click("text=Create label")
    expect(owner.locator(".label-list .issue-label")).to_have_text(["bug"])
    owner.click("text=Milestones")
    owner.fill("input[name=title]", "v1.0")
    owner.click("text=Create milestone")
    expect(owner.locator(".milestone-list strong")).to_have_text(["v1.0"])

    reporter = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(reporter, live_server, "bob")
    reporter.goto(f"{live_server}/alice/project/issues/new")
    expect(reporter.get_by_text("Something does not work")).to_be_visible()
    reporter.click("text=Get started")
    expect(reporter.locator("input[name=title]")).to_have_value("[bug] ")
    reporter.fill("input[name=title]", "[bug] Crash on **start**")
    reporter.fill(
        "textarea[name=body]", "It **crashes**.\n\n<script>alert(1)</script>\n\ncc @alice"
    )
    reporter.click("button:text-is('Preview')")
    preview = reporter.locator(".issue-preview")
    expect(preview.locator("strong")).to_have_text("crashes")
    expect(preview.locator("script")).to_have_count(0)
    reporter.click("text=Submit new issue")
    expect(reporter).to_have_url(f"{live_server}/alice/project/issues/1")
    # The template's label came along, though bob may not label issues himself.
    expect(reporter.locator(".issue-sidebar .issue-label")).to_have_text(["bug"])
    expect(reporter.locator("text=Edit labels")).to_have_count(0)

    # bob's "cc @alice" is in alice's inbox, and leads to the issue.
    owner.goto(f"{live_server}/notifications")
    owner.click("text=alice/project#1: [bug] Crash on **start**")
    expect(owner).to_have_url(f"{live_server}/alice/project/issues/1")
    owner.click("#issue-body summary:text-is('Edit')")
    owner.fill("#issue-body textarea[name=body]", "It crashes at once.")
    owner.click("#issue-body button:text-is('Save')")
    expect(owner.locator("#issue-body .markdown-body")).to_have_text("It crashes at once.")
    owner.click("text=edited 1 time")
    expect(owner.locator(".edit-history pre")).to_contain_text("It **crashes**.")
    owner.click("summary:text-is('Edit assignees')")
    owner.check("input[name=assignee][value=alice]")
    owner.click(".issue-sidebar form:has(input[name=assignee]) button")
    owner.select_option("select[name=milestone]", label="v1.0")
    owner.click("button:text-is('Set')")
    expect(owner.locator(".timeline")).to_contain_text("added this to the v1.0 milestone")
    owner.click("button[aria-label='heart']")
    expect(owner.locator("#issue-body button.reaction.mine")).to_have_text(re.compile("1"))
    owner.fill(".comment-form textarea", "Not something we will do.")
    owner.select_option("select[name=reason]", "not_planned")
    owner.click("button:text-is('Close issue')")
    expect(owner.locator(".issue-head .state")).to_have_text("Closed as not planned")
    expect(owner.locator(".timeline")).to_contain_text("closed this as not planned")
    shot(owner, "issue")

    owner.goto(f"{live_server}/alice/project/issues")
    expect(owner.get_by_text("No open issues.")).to_be_visible()
    owner.click("text=1 Closed")
    expect(owner.locator(".issue-list .change-list-title")).to_have_count(1)
    owner.select_option("select[name=assignee]", "alice")
    owner.fill(".issues-filters input[name=q]", "crash")
    owner.click("button:text-is('Filter')")
    expect(owner.locator(".issue-list .change-list-title")).to_have_count(1)
    owner.fill(".issues-filters input[name=q]", "nothing-like-this")
    owner.click("button:text-is('Filter')")
    expect(owner.get_by_text("No closed issues match these filters.")).to_be_visible()
    shot(owner, "issues")
    assert errors == []

    # The same comment form, posted without its CSRF token by a signed-in browser: refused.
    cookies = {c["name"]: c["value"] for c in owner.context.cookies()}
    answer = requests.post(
        f"{live_server}/alice/project/issues/1/comments",
        data={"body": "forged"},
        cookies=cookies,
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 400
    token = make_token("alice")
    comments = requests.get(
        f"{live_server}/api/v3/repos/alice/project/issues/1/comments",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    ).json()
    assert [c["body"] for c in comments] == ["Not something we will do."]
