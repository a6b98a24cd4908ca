"""Releases, stars, forks and profiles in a real browser (Chromium through Playwright): the
owner drafts a release through the form, publishes it, uploads a file and downloads it back;
another person stars and forks the repository and shows up on its stargazers and forks pages;
a profile lists a person's contributions, without those in repositories the viewer cannot
see. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import os

import requests
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console

NOTES = """Everything **new** in one place.

- faster pushes
- [the guide](docs/guide.md)

<script>alert("no")</script>
"""


def test_a_release_is_drafted_published_and_its_file_downloaded(
    browser, live_server, hosted_repo, git, tmp_path, settings
):
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n", "docs/guide.md": "# Guide\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "alice")

    page.goto(f"{live_server}/alice/project")
    page.click("nav.tabs a:text-is('Releases')")
    expect(page.get_by_text("No releases yet.")).to_be_visible()
    page.click("text=Draft a new release")
    page.fill("input[name=tag_name]", "v1.0")
    page.fill("input[name=name]", "First light")
    page.fill("textarea[name=body]", NOTES)
    page.check("input[name=draft]")
    page.click(".release-form button[type=submit]")
    expect(page.locator(".badge-draft")).to_be_visible()
    # A draft makes no tag yet.
    assert "refs/tags/v1.0" not in git.run("ls-remote", "--tags", info.url).stdout

    page.click("text=Edit")
    page.uncheck("input[name=draft]")
    page.click(".release-form button[type=submit]")
    expect(page).to_have_url(f"{live_server}/alice/project/releases/tag/v1.0")
    notes = page.locator(".markdown-body")
    expect(notes.locator("strong")).to_have_text("new")
    expect(notes.locator("a", has_text="the guide")).to_have_attribute(
        "href", f"{live_server}/alice/project/blob/v1.0/docs/guide.md"
    )
    expect(notes.locator("script")).to_have_count(0)  # sanitized
    assert "refs/tags/v1.0" in git.run("ls-remote", "--tags", info.url).stdout

    payload = os.urandom(50_000)
    upload = tmp_path / "project-1.0.bin"
    upload.write_bytes(payload)
    page.set_input_files("input[name=file]", str(upload))
    page.fill("input[name=label]", "The build")
    page.click("text=Upload")
    expect(page.locator(".asset-name", has_text="project-1.0.bin")).to_be_visible()
    expect(page.locator(".source-archive")).to_have_count(2)
    shot(page, "release")
    with page.expect_download() as download:
        page.click(".asset-name:text-is('project-1.0.bin')")
    with open(download.value.path(), "rb") as downloaded:
        assert downloaded.read() == payload
    page.reload()
    expect(page.locator(".asset-count")).to_have_text("1 download")
    zip_link = page.locator(".source-archive a", has_text="zip").get_attribute("href")
    assert requests.get(live_server + zip_link, timeout=30).headers["Content-Type"] == (
        "application/zip"
    )

    # The tags page links the tag's release.
    page.click("nav.tabs a:text-is('Tags')")
    page.click(".release-link:text-is('Release')")
    expect(page).to_have_url(f"{live_server}/alice/project/releases/tag/v1.0")

    page.click("text=All releases")
    expect(page.locator(".release-title")).to_have_text(["First light"])
    expect(page.locator(".badge-latest")).to_be_visible()
    shot(page, "releases")

    # Deleting the release removes its file (the tag stays).
    page.click(".release-title a")
    page.click("text=Delete release")
    expect(page.get_by_text("No releases yet.")).to_be_visible()
    assert not [p for p in settings.releases_dir.rglob("*") if p.is_file()]
    assert errors == []


def test_stars_forks_and_a_profiles_contributions(
    browser, live_server, hosted_repo, git, tmp_path, make_user, github
):
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    make_user("bob")
    # alice's work: a change opened in her public repository, and her review of it...
    git.run("checkout", "-q", "-b", "idea", cwd=work)
    git.commit(work, {"idea.txt": "an idea\n"}, "An idea")
    git.run("push", "-q", info.push_url, "idea", cwd=work)
    repo = github(info.token).get_repo("alice/project")
    pull = repo.create_pull(title="Try an idea", body="", base="main", head="idea")
    pull.create_review(body="fine", event="COMMENT")
    # ...and a change in a private repository that only she may see.
    secret = hosted_repo(name="secret", private=True)
    secret_work = git.init(tmp_path / "secret", {"README.md": "# secret\n"})
    git.run("push", "-q", secret.push_url, "HEAD:main", cwd=secret_work)
    git.commit(secret_work, {"x.txt": "x\n"}, "Hidden work")
    git.run("push", "-q", secret.push_url, "HEAD:refs/heads/hidden-work", cwd=secret_work)
    github(info.token).get_repo("alice/secret").create_pull(
        title="Hidden change", body="", base="main", head="hidden-work"
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "bob")
    page.goto(f"{live_server}/alice/project")
    social = page.locator(".repo-social")
    expect(social.locator(".stargazers-link")).to_have_text("0 stars")
    social.locator("button", has_text="Star").click()
    expect(social.locator("button")).to_have_text("★ Starred")
    expect(social.locator(".stargazers-link")).to_have_text("1 star")
    shot(page, "repo-starred")
    social.locator(".stargazers-link").click()
    expect(page.locator(".stargazers li a")).to_have_text(["bob"])
    shot(page, "stargazers")

    page.click(".fork-form button")
    expect(page).to_have_url(f"{live_server}/bob/project")
    page.goto(f"{live_server}/alice/project")
    expect(page.locator(".repo-social .forks-link")).to_have_text("1 fork")
    page.click(".repo-social .forks-link")
    expect(page.locator(".forks li a")).to_have_text(["bob/project"])
    shot(page, "forks")

    # alice's profile, seen by bob: the change she opened and her review of it, and nothing
    # of her private repository's work.
    page.goto(f"{live_server}/alice")
    expect(page.locator(".contribution-list li")).to_have_count(2)
    expect(page.locator(".contribution-opened a")).to_have_text("alice/project#1")
    expect(page.locator(".contribution-reviewed a")).to_have_text("alice/project#1")
    expect(page.locator(".contributions-total")).to_have_text("2 contributions in the last year")
    expect(page.locator(".contribution-calendar rect[data-count='2']")).to_have_count(1)
    shot(page, "profile")
    assert "alice/secret" not in page.content()
    assert errors == []

    # alice sees her own private work too; anonymous visitors do not, not even counted.
    own = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(own, live_server, "alice")
    own.goto(f"{live_server}/alice")
    expect(own.locator(".contribution-list li")).to_have_count(3)
    expect(own.locator(".contribution-opened a", has_text="alice/secret#1")).to_be_visible()
    anonymous = requests.get(f"{live_server}/alice", timeout=30).text
    assert "alice/secret" not in anonymous and "Hidden change" not in anonymous
    assert "2 contributions in the last year" in anonymous
