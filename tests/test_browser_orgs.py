"""An organization in a real browser (Chromium, through Playwright): alice creates one, makes
a private repository in it, a team with bob in it and the write role on that repository; bob
then sees the repository in the organization, carol (no member) does not, and a form without
its CSRF token changes nothing. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import requests
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console


def test_an_owner_builds_an_organization_and_its_team_in_the_browser(
    browser, live_server, make_user, api, make_token
):
    for name in ("alice", "bob", "carol"):
        make_user(name)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "alice")

    # From the new-repository page to a new organization.
    page.goto(f"{live_server}/new")
    page.click("text=create an organization")
    page.fill("input[name=login]", "acme")
    page.fill("input[name=display_name]", "Acme Inc.")
    page.fill("input[name=description]", "We make engines")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{live_server}/acme")
    expect(page.locator(".org-header h1")).to_contain_text("Acme Inc.")

    # A private repository owned by the organization, from its page.
    page.click("main .card >> text=New repository")
    expect(page.locator("select[name=owner]")).to_have_value("acme")
    page.fill("input[name=name]", "engine")
    page.check("input[value=private]")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{live_server}/acme/engine")

    # People: bob joins as a member.
    page.goto(f"{live_server}/orgs/acme/people")
    page.fill("input[name=member-username]", "bob")
    page.click("text=Add or change")
    expect(page.locator(".people-table")).to_contain_text("bob")

    # A team, bob in it, and the write role on acme/engine.
    page.goto(f"{live_server}/orgs/acme/teams")
    page.fill("input[name=team-name]", "Core Devs")
    page.fill("input[name=team-description]", "Who ships the engine")
    page.click("text=Create team")
    expect(page).to_have_url(f"{live_server}/orgs/acme/teams/core-devs")
    page.fill("input[name=member-username]", "bob")
    page.click("text=Add member")
    expect(page.locator(".team-members")).to_contain_text("bob")
    page.select_option("select[name=repo-repository]", "engine")
    page.select_option("select[name=repo-role]", "write")
    page.click("text=Give role")
    expect(page.locator(".team-repositories")).to_contain_text("acme/engine")
    expect(page.locator(".team-repositories")).to_contain_text("write")
    shot(page, "org-team")
    page.goto(f"{live_server}/acme/engine/settings")
    expect(page.locator(".repo-teams")).to_contain_text("Core Devs")
    expect(page.locator(".repo-teams")).to_contain_text("write")

    # Settings: the base permission becomes none, so only the team's role counts.
    page.goto(f"{live_server}/orgs/acme/settings")
    page.select_option("select[name=default_repository_permission]", "none")
    page.click("main button[type=submit]")
    expect(page.locator("select[name=default_repository_permission]")).to_have_value("none")
    page.goto(f"{live_server}/acme")
    shot(page, "org-profile")

    # bob sees the private repository on the organization's page, with push rights.
    bob = context.browser.new_context(viewport={"width": 1280, "height": 900})
    bob_page = bob.new_page()
    sign_in(bob_page, live_server, "bob")
    bob_page.goto(f"{live_server}/acme")
    expect(bob_page.locator(".repo-list")).to_contain_text("acme/engine")
    shot(bob_page, "org-profile-member")
    assert api("GET", "/repos/acme/engine", make_token("bob")).json()["permissions"]["push"]

    # carol, outside the organization, sees neither the repository nor its people and teams.
    carol = context.browser.new_context()
    carol_page = carol.new_page()
    sign_in(carol_page, live_server, "carol")
    carol_page.goto(f"{live_server}/acme")
    expect(carol_page.locator("main")).to_contain_text("no repositories you can see")
    assert carol_page.goto(f"{live_server}/acme/engine").status == 404
    assert carol_page.goto(f"{live_server}/orgs/acme/people").status == 404

    # A form posted without its CSRF token is refused and changes nothing.
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    forged = requests.post(
        f"{live_server}/orgs/acme/people",
        data={"member-username": "carol", "member-role": "admin"},
        cookies=cookies,
        timeout=30,
        allow_redirects=False,
    )
    assert forged.status_code == 400
    page.goto(f"{live_server}/orgs/acme/people")
    expect(page.locator(".people-table")).not_to_contain_text("carol")

    # bob leaves the team's seat behind when an owner removes him: the repository is gone.
    page.locator("tr", has_text="bob").locator("button", has_text="Remove").click()
    expect(page.locator(".people-table")).not_to_contain_text("bob")
    assert bob_page.goto(f"{live_server}/acme/engine").status == 404
    assert not errors, errors
