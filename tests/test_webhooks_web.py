"""The webhook settings pages: a repository admin adds, edits and deletes hooks, sends pings,
reads each delivery (request, response) and redelivers; site admins do the same with system
hooks under /admin/hooks. Deliveries go to a receiver on 127.0.0.1 through a real rq worker,
and one story runs in a real Chromium."""

from __future__ import annotations

import re

import pytest
from conftest import form_post
from playwright.sync_api import expect
from support.browser import shot, sign_in
from support.webhooks import SECRET, drain, loopback_settings, push_new_commit


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def hook_form(url, **extra) -> dict:
    return {"url": url, "content_type": "json", "secret": "", "trigger": "push",
            "active": "y", **extra}  # fmt: skip


def hooks_of(api, token, repo="alice/project") -> list[dict]:
    return api("GET", f"/repos/{repo}/hooks", token).json()


def field_error(html: str, text: str) -> bool:
    """Is `text` shown as an error inside a field marked as having one?"""
    return bool(re.search(r'class="field has-error".*?class="error">[^<]*' + re.escape(text),
                          html, re.S))  # fmt: skip


def test_an_admin_adds_edits_and_deletes_a_hook_and_reads_its_deliveries(
    hosted_repo, client, login, receiver, settings, api
):
    info = hosted_repo()
    login("alice")
    base = "/alice/project/settings/hooks"
    assert base in client.get("/alice/project/settings").get_data(as_text=True)
    assert "No webhooks yet" in client.get(base).get_data(as_text=True)

    chosen = hook_form(
        receiver.url, secret=SECRET, trigger="chosen", events=["push", "pull_request"]
    )
    answer = form_post(client, f"{base}/new", f"{base}/new", chosen)
    assert answer.status_code == 302
    (hook,) = hooks_of(api, info.token)
    assert hook["events"] == ["push", "pull_request"] and hook["config"]["secret"] == "********"
    page_url = f"{base}/{hook['id']}"
    assert answer.headers["Location"].endswith(page_url)

    # The new hook was pinged; the page lists the delivery with the receiver's answer.
    drain(settings, lambda: len(receiver.events("ping")) == 1)
    assert receiver.events("ping")[0].signed_with(SECRET)
    page = client.get(page_url).get_data(as_text=True)
    assert SECRET not in page  # the secret is never shown back
    assert "A secret is set" in page
    assert "ping" in page and receiver.events("ping")[0].headers["X-GitHub-Delivery"] in page
    assert "X-Hub-Signature-256" in page and "thanks" in page  # request headers, response body
    listing = client.get(base).get_data(as_text=True)
    assert receiver.url in listing and "&#10003; 200" in listing

    # Editing with the secret left blank keeps it; "everything" subscribes to every event.
    answer = form_post(client, page_url, page_url, hook_form(receiver.url, trigger="everything"))
    assert answer.status_code == 302
    assert hooks_of(api, info.token)[0]["events"] == ["*"]
    form_post(client, page_url, f"{page_url}/pings", {})
    drain(settings, lambda: len(receiver.events("ping")) == 2)
    assert receiver.events("ping")[1].signed_with(SECRET)

    # A new secret signs from now on.
    form_post(client, page_url, page_url, hook_form(receiver.url, secret="rotated"))
    form_post(client, page_url, f"{page_url}/pings", {})
    drain(settings, lambda: len(receiver.events("ping")) == 3)
    assert receiver.events("ping")[2].signed_with("rotated")

    # Delete, after the confirmation the page asks for.
    assert "Yes, delete it" in client.get(base).get_data(as_text=True)
    answer = form_post(client, base, f"{page_url}/delete", {})
    assert answer.status_code == 302 and hooks_of(api, info.token) == []
    assert client.get(page_url).status_code == 404


def test_bad_input_is_shown_at_its_field_and_saves_nothing(
    hosted_repo, client, login, receiver, settings, api
):
    info = hosted_repo()
    login("alice")
    base = "/alice/project/settings/hooks"
    for url, message in (
        ("http://10.1.2.3/hook", "internal address"),
        ("http://169.254.169.254/latest", "internal address"),
        ("ftp://example.org/", "must be http:// or https://"),
        ("", "This field is required"),
    ):
        answer = form_post(client, f"{base}/new", f"{base}/new", hook_form(url))
        assert answer.status_code == 400, url
        assert field_error(answer.get_data(as_text=True), message), url
    unknown = hook_form(receiver.url, trigger="chosen", events=["push", "nonsense"])
    answer = form_post(client, f"{base}/new", f"{base}/new", unknown)
    assert answer.status_code == 400
    assert field_error(answer.get_data(as_text=True), "unsupported events: nonsense")
    assert hooks_of(api, info.token) == []

    # The same on the edit page: the refused change leaves the hook as it was.
    form_post(client, f"{base}/new", f"{base}/new", hook_form(receiver.url))
    (hook,) = hooks_of(api, info.token)
    page_url = f"{base}/{hook['id']}"
    answer = form_post(client, page_url, page_url, hook_form("http://10.0.0.1/"))
    assert answer.status_code == 400
    assert field_error(answer.get_data(as_text=True), "internal address")
    assert hooks_of(api, info.token)[0]["config"]["url"] == receiver.url

    # Forms carry a CSRF token; without it nothing happens.
    answer = client.post(f"{page_url}/delete", data={})
    assert answer.status_code == 400 and len(hooks_of(api, info.token)) == 1


def test_only_admins_see_hook_settings(hosted_repo, client, login, make_user, database):
    from forge.accounts import users as accounts
    from forge.repos import repositories as repo_service

    hosted_repo()
    hosted_repo("alice", "secret", private=True)
    make_user("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repo_service.get_repository(session, "alice", "project", alice)
        repo_service.set_collaborator(session, project, alice, "bob", "write")
    assert client.get("/alice/project/settings/hooks").status_code == 302  # sign in first
    login("bob")
    # A writer knows the repository but its settings are not theirs (as the other settings
    # pages answer); a private repository is not there at all for outsiders.
    assert client.get("/alice/project/settings/hooks").status_code == 403
    assert client.get("/alice/project/settings/hooks/new").status_code == 403
    assert client.get("/alice/secret/settings/hooks").status_code == 404
    # System hooks exist only for site admins.
    assert client.get("/admin/hooks").status_code == 404
    assert client.get("/admin/hooks/new").status_code == 404


def test_a_site_admin_manages_system_hooks_that_hear_every_repository(
    hosted_repo, client, login, make_user, receiver, settings, git, tmp_path
):
    info = hosted_repo("bob", "tools", private=True)
    work = git.init(tmp_path / "seed")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    make_user("root", admin=True)
    login("root")
    assert "/admin/hooks" in client.get("/admin/").get_data(as_text=True)
    answer = form_post(client, "/admin/hooks/new", "/admin/hooks/new",
                       hook_form(receiver.url, secret=SECRET))  # fmt: skip
    assert answer.status_code == 302
    page_url = answer.headers["Location"]
    assert re.search(r"/admin/hooks/\d+$", page_url)
    drain(settings, lambda: len(receiver.events("ping")) == 1)

    push_new_commit(git, tmp_path, info, message="more tools")
    drain(settings, lambda: len(receiver.events("push")) == 1)
    push = receiver.events("push")[0]
    assert push.signed_with(SECRET) and push.payload()["repository"]["full_name"] == "bob/tools"

    page = client.get(page_url).get_data(as_text=True)
    delivery_id = re.findall(r'data-delivery="(\d+)"', page)[0]  # the newest first: the push
    assert push.headers["X-GitHub-Delivery"] in page
    detail_url = f"{page_url}/deliveries/{delivery_id}"
    detail = client.get(detail_url).get_data(as_text=True)
    assert "bob/tools" in detail and "Redeliver" in detail
    answer = form_post(client, detail_url, f"{detail_url}/attempts", {})
    assert answer.status_code == 302
    drain(settings, lambda: len(receiver.events("push")) == 2)
    again = receiver.events("push")[1]
    assert again.headers["X-GitHub-Delivery"] == push.headers["X-GitHub-Delivery"]
    assert "redelivery" in client.get(page_url).get_data(as_text=True)


def test_in_a_browser_add_a_hook_push_see_the_delivery_and_redeliver(
    browser, live_server, hosted_repo, receiver, settings, git, tmp_path
):
    info = hosted_repo()
    work = git.init(tmp_path / "seed")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()

    sign_in(page, live_server, "alice")

    page.goto(f"{live_server}/alice/project/settings")
    page.click(".settings-tabs a:text-is('Webhooks')")
    page.click("text=Add webhook")
    page.fill("input[name=url]", receiver.url)
    page.fill("input[name=secret]", SECRET)
    page.check("input[name=trigger][value=chosen]")
    page.check("input[name=events][value=push]")
    page.click("form.hook-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Webhook added")
    expect(page.locator("input[name=secret]")).to_have_value("")

    push_new_commit(git, tmp_path, info, message="a change worth announcing")
    drain(settings, lambda: len(receiver.events("push")) == 1)
    page.reload()
    deliveries = page.locator("li.delivery")
    expect(deliveries).to_have_count(2)  # the push, then the ping sent when it was added
    push = deliveries.first
    expect(push.locator(".delivery-event")).to_have_text("push")
    push.locator("summary").click()
    expect(push.locator(".response-status")).to_contain_text("200")
    expect(push.locator(".response-body")).to_have_text("thanks")
    expect(push.locator(".request-body")).to_contain_text("a change worth announcing")
    shot(page, "webhooks-delivery")

    push.locator("button:text-is('Redeliver')").click()
    expect(page.locator(".flash-success")).to_contain_text("Redelivery")
    drain(settings, lambda: len(receiver.events("push")) == 2)
    first, second = receiver.events("push")
    assert first.headers["X-GitHub-Delivery"] == second.headers["X-GitHub-Delivery"]
    assert second.signed_with(SECRET)
    page.reload()
    expect(page.locator("li.delivery")).to_have_count(3)
    newest = page.locator("li.delivery").first
    expect(newest.locator(".badge")).to_have_text("redelivery")
    expect(newest.locator(".hook-state")).to_contain_text("200")
    context.close()
