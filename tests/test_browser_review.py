"""A review in a real browser (Chromium, through Playwright): a stranger uploads a change with
`git push HEAD:refs/for/main` and updates it twice; a collaborator signs in through the real
form, opens the change, reads what changed between patch sets 2 and 3, comments on a line
with the "+" button and requests changes. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import re

from conftest import authed
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console

from forge.accounts import users as accounts
from forge.repos import repositories as repo_service

APP = '''"""The greeter."""


def greet(name):
    """Say hello."""
    return "hello " + name


def main():
    print(greet("world"))
'''


def test_a_peer_reviews_the_interdiff_and_requests_changes(
    browser,
    live_server,
    hosted_repo,
    git,
    tmp_path,
    make_user,
    make_token,
    database,
):
    repo = hosted_repo("alice", "greeter")
    work = git.init(tmp_path / "alice", {"src/app.py": APP, "README.md": "# Greeter\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    make_user("carol")
    make_user("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        found = repo_service.find_repository(session, "alice", "greeter")
        repo_service.set_collaborator(session, found, alice, "carol", "write")

    # bob, a stranger, uploads a change and updates it twice under the same topic.
    bob_url = authed(repo.url, "bob", make_token("bob"))
    clone = tmp_path / "bob"
    git.run("clone", "-q", bob_url, str(clone))
    git.install_change_id_hook(clone)
    versions = [
        ("Greet warmly", APP.replace('"hello "', '"hello there, "')),
        ("Greet warmly", APP.replace('"hello "', '"hi there, "')),
        ("Greet warmly", APP.replace('"hello "', '"hi there, "').replace("world", "everyone")),
    ]
    for number, (title, content) in enumerate(versions, 1):
        (clone / "src" / "app.py").write_text(content)
        git.run("add", "-A", cwd=clone)
        amend = ["--amend", "-m", title, "-m", git.change_id_trailer(clone)] if number > 1 else []
        git.run("commit", "-q", *(amend or ["-m", title]), cwd=clone)
        pushed = git.run("push", "-o", "topic=warm", bob_url, "HEAD:refs/for/main", cwd=clone)
        assert ("Created change #1" if number == 1 else f"(patch set {number})") in pushed.stderr

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)

    # carol signs in through the real form.
    sign_in(page, live_server, "carol")

    # The list, then the change.
    page.goto(f"{live_server}/alice/greeter")
    page.click(".tabs a:text-is('Change requests')")
    expect(page.locator(".change-list-title")).to_have_text(["Greet warmly"])
    shot(page, "review-list")
    page.click(".change-list-title")
    expect(page).to_have_url(f"{live_server}/alice/greeter/pull/1")
    expect(page.locator(".change-title")).to_contain_text("Greet warmly")
    expect(page.locator(".state")).to_have_text("Open")
    expect(page.locator(".timeline-event.event-patch_set")).to_have_count(2)
    expect(page.locator(".merge-box")).to_contain_text("No conflicts with the base branch")
    shot(page, "review-conversation")

    # Files changed: patch set 3 against patch set 2, the diffs loading as they come in view.
    page.click(".change-tabs a:text-is('Files changed')")
    page.select_option("select#ps", "3")
    page.select_option("select#against", "2")
    page.click(".patch-set-picker button")
    expect(page).to_have_url(re.compile(r"/pull/1/files\?ps=3&against=2$"))
    expect(page.locator(".patch-set-picker")).to_contain_text("from patch set 2 to 3")
    diff = page.locator("details.lazy-diff .change-diff")
    expect(diff).to_have_count(1)
    expect(diff.locator("tr.del .lc")).to_have_text(['-    print(greet("world"))'])
    expect(diff.locator("tr.add .lc")).to_contain_text(['print(greet("everyone"))'])
    shot(page, "review-interdiff")

    # "+" on the added line opens a form under it; the comment is a draft of carol's review.
    added = diff.locator("tr.add").first
    added.hover()
    added.locator(".add-comment").click()
    form = page.locator("tr.comment-row form")
    expect(form).to_be_visible()
    expect(form.locator(".line-number")).to_have_text("10")
    form.locator("textarea").fill("Everyone? Keep the world, please.")
    shot(page, "review-inline-form")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/pull/1/files\?ps=3&against=2#diff-"))
    thread = page.locator(".change-diff .thread")
    expect(thread).to_contain_text("Everyone? Keep the world, please.")
    expect(thread.locator(".badge.pending")).to_have_text("Pending")
    expect(page.locator(".diff-toolbar")).to_contain_text("1 pending comment")

    # The review: request changes, with a summary.
    page.fill("#review-body", "Nearly there; one thing to undo.")
    page.check("input[name=review-event][value=REQUEST_CHANGES]")
    shot(page, "review-files")
    page.click(".review-box button[type=submit]")
    expect(page).to_have_url(re.compile(r"/pull/1#bottom$"))
    review = page.locator(".timeline-review")
    expect(review).to_contain_text("carol requested changes on patch set 3")
    expect(review).to_contain_text("Nearly there; one thing to undo.")
    expect(review.locator(".thread")).to_contain_text("Everyone? Keep the world, please.")
    expect(review.locator(".badge.pending")).to_have_count(0)
    shot(page, "review-submitted")

    assert errors == [], errors
    context.close()
