"""The rough edges a new user found (issue 23), each as that user meets it: the new-change page
in Chromium, a refused push's two routes (refs/for and the fork page, followed to a change), the
change page and the merge queue, the API's repository size through PyGithub, the favicon, and
the README's walk-through of a first change followed command by command, to the merge.
Screenshots land in tests/artifacts/. (`forge CMD --home DIR` is tests/test_cli.py's.)
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import requests
from conftest import PASSWORD, authed, form_post
from playwright.sync_api import expect
from support.browser import ARTIFACTS, shot, sign_in, watch_console
from support.ci import work as work_queue

from forge.accounts import users as accounts
from forge.repos import repositories as repos

README = Path(__file__).resolve().parents[1] / "README.md"
CI_YML = "jobs:\n  test:\n    run: echo green\n"
CLIP = {"x": 0, "y": 0, "width": 120, "height": 90}


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context.new_page()


def options_of(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(f"{selector} option", "os => os.map(o => o.value)")


def style_of(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")


# --- the new-change page --------------------------------------------------------------------


def test_the_new_change_page_picks_branches_and_sits_under_change_requests(
    browser, live_server, hosted_repo, git, tmp_path, make_user, make_token, github
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    git.commit(work, {"feature.txt": "new\n"}, "Add the feature")
    git.run("push", "-q", repo.push_url, "feature", cwd=work)
    make_user("bob")
    github(make_token("bob")).get_repo("alice/project").create_fork()
    # A branch the parent got after bob forked it: his fork does not have it.
    git.run("push", "-q", repo.push_url, "main:release", cwd=work)

    page = new_page(browser)
    errors = watch_console(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/alice/project/pulls")
    page.click("text=New change request")
    expect(page.locator(".tabs a.active")).to_have_text("Change requests")
    expect(page.locator("input[name=head], input[name=base]")).to_have_count(0)
    assert sorted(options_of(page, "#compare-base")) == ["feature", "main", "release"]
    assert page.eval_on_selector("#compare-base", "s => s.value") == "main"
    page.select_option("#compare-head", "feature")
    page.click(".compare-form button[type=submit]")
    expect(page).to_have_url(f"{live_server}/alice/project/compare/main...feature")
    expect(page.locator(".tabs a.active")).to_have_text("Change requests")
    expect(page.locator("#open-change")).to_be_visible()
    assert style_of(page, "#open-change", "padding-left") == "16px"  # changes.css is loaded
    expect(page.locator("main")).to_contain_text("Add the feature")
    assert page.eval_on_selector("#compare-head", "s => s.value") == "feature"
    shot(page, "rough-edges-new-change")
    page.click("#open-change button[type=submit]")
    expect(page).to_have_url(re.compile(r"/alice/project/pull/1$"))

    # In bob's fork the base is picked from the parent's branches, the head from his own.
    fork = new_page(browser)
    fork_errors = watch_console(fork)
    sign_in(fork, live_server, "bob")
    fork.goto(f"{live_server}/bob/project/compare")
    expect(fork.locator(".compare-form")).to_contain_text("alice/project")
    assert "release" in options_of(fork, "#compare-base")
    assert "release" not in options_of(fork, "#compare-head")
    shot(fork, "rough-edges-new-change-fork")
    assert errors == [] and fork_errors == [], errors + fork_errors


# --- a refused push says how to propose the change -----------------------------------------


def refusal_of(result: subprocess.CompletedProcess) -> list[str]:
    """The `remote:` lines of a refused push (git pads them with spaces)."""
    assert result.returncode != 0, result.stderr
    return [line.rstrip() for line in result.stderr.splitlines() if line.startswith("remote:")]


def test_a_refused_push_leads_to_refs_for_and_to_a_fork_that_proposes_the_change(
    browser, live_server, hosted_repo, git, tmp_path, make_user, make_token, database
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    protected = requests.put(
        f"{live_server}/api/v3/repos/alice/project/branches/main/protection",
        json={
            "required_status_checks": None, "enforce_admins": True, "restrictions": None,
            "required_pull_request_reviews": {"required_approving_review_count": 1},
        },
        headers={"Authorization": f"token {repo.token}"},
        timeout=30,
    )  # fmt: skip
    assert protected.status_code == 200, protected.text
    make_user("dana")  # a stranger: may read, may not write
    dana_url = authed(repo.url, "dana", make_token("dana"))
    clone = tmp_path / "dana"
    git.run("clone", "-q", dana_url, str(clone))
    git.commit(clone, {"README.md": "# project\nWith a fix.\n"}, "Fix the README")
    fork_page = f"{live_server}/alice/project/fork"
    hints = [
        "remote: hint:   git push origin HEAD:refs/for/main",
        f"remote: hint: or fork alice/project at {fork_page}, push your branch",
        "remote: hint: to the fork and open a change from it to main.",
    ]

    # The stranger hears both routes; the owner, whose protection binds admins too, refs/for.
    stranger = refusal_of(git.run("push", "origin", "HEAD:main", cwd=clone, check=False))
    assert "it needs the write role" in "\n".join(stranger)
    assert all(hint in stranger for hint in hints), stranger
    owner = refusal_of(git.run("push", repo.push_url, "HEAD:main", cwd=clone, check=False))
    assert "main is a protected branch" in "\n".join(owner)
    assert hints[0] in owner and not any("fork" in line for line in owner), owner
    assert git.run("ls-remote", repo.url, "main", cwd=clone).stdout.split()[0] == git.head(work)

    # The fork route, in the browser: the hint's page asks dana to sign in, then forks.
    page = new_page(browser)
    errors = watch_console(page)
    page.goto(fork_page)
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(fork_page)
    expect(page.locator("h1")).to_have_text("Fork alice/project")
    expect(page.locator(".fork-page")).to_contain_text("dana/project")
    shot(page, "rough-edges-fork-page")
    page.click(".fork-page button[type=submit]")
    expect(page).to_have_url(f"{live_server}/dana/project")
    expect(page.locator(".forked-from")).to_contain_text("alice/project")

    # Pushed to the fork, proposed from it: the fork page now says where to push and links on.
    fork_remote = authed(f"{live_server}/dana/project.git", "dana", make_token("dana"))
    git.run("push", "-q", fork_remote, "HEAD:fix-readme", cwd=clone)
    page.goto(fork_page)
    expect(page.locator(".existing-fork")).to_contain_text("dana/project")
    expect(page.locator(".fork-page pre")).to_contain_text(f"{live_server}/dana/project.git")
    expect(page.locator(".fork-page form")).to_have_count(0)
    shot(page, "rough-edges-fork-page-forked")
    page.click("text=New change request")
    page.select_option("#compare-head", "fix-readme")
    page.click(".compare-form button[type=submit]")
    page.click("#open-change button[type=submit]")
    expect(page).to_have_url(f"{live_server}/alice/project/pull/1")
    assert errors == [], errors
    pull = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls/1", timeout=30).json()
    assert (pull["head"]["label"], pull["base"]["ref"], pull["user"]["login"]) == (
        "dana:fix-readme", "main", "dana"
    )  # fmt: skip

    # The other route: refs/for, as the hint says, once the commit has its Change-Id.
    git.install_change_id_hook(clone)
    git.run("commit", "-q", "--amend", "--no-edit", cwd=clone)
    uploaded = git.run("push", "origin", "HEAD:refs/for/main", cwd=clone)
    assert "Created change #2: Fix the README" in uploaded.stderr


def test_the_fork_page_is_for_readers_only_and_not_for_the_owner(
    app, hosted_repo, make_user, client, login, database
):
    hosted_repo(private=True)
    anonymous = client.get("/alice/project/fork")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    make_user("eve")
    eve = login("eve")
    assert eve.get("/alice/project/fork").status_code == 404  # private: as if it did not exist
    assert form_post(eve, "/", "/alice/project/fork", {}).status_code == 404
    alice = login("alice", test_client=app.test_client())
    own = alice.get("/alice/project/fork")
    assert own.status_code == 200
    assert "alice/project is your own repository" in own.get_data(as_text=True)
    assert alice.post("/alice/project/fork").status_code == 400  # no CSRF token
    with database.session() as session:
        assert repos.find_repository(session, "eve", "project") is None


# --- the change page and the merge queue ----------------------------------------------------


def test_the_change_page_counts_approvals_renders_comments_and_offers_one_method(
    browser, live_server, hosted_repo, git, tmp_path, make_user, make_token, database, github
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"app.py": "x = 1\n", ".forge/ci.yml": CI_YML})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    git.commit(work, {"app.py": "x = 2\n"}, "Make x two")
    git.run("push", "-q", repo.push_url, "feature", cwd=work)
    make_user("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, alice, "bob", "maintain")
    bob_token = make_token("bob")
    github(repo.token).get_repo("alice/project").create_pull("main", "feature", title="Two")
    voted = requests.post(
        f"{live_server}/api/v3/repos/alice/project/pulls/1/votes",
        json={"label": "Code-Review", "value": 2},
        headers={"Authorization": f"token {bob_token}"},
        timeout=30,
    )
    assert voted.status_code in (200, 201), voted.text
    github(bob_token).get_repo("alice/project").get_pull(1).create_review(
        body="",
        event="COMMENT",
        comments=[{
            "path": "app.py", "line": 1, "side": "RIGHT",
            "body": "Why **two**? See `x`:\n\n- one\n- two\n\n<script>alert(1)</script>",
        }],
    )  # fmt: skip

    page = new_page(browser)
    errors = watch_console(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/alice/project/pull/1")
    approvals = page.locator(".merge-row.approvals")
    expect(approvals).to_contain_text("1 approval of the current patch set")
    expect(approvals).to_contain_text("bob")
    # One merge method selector: auto-merge is a second button of the merge form.
    expect(page.locator("select[name=method]")).to_have_count(1)
    expect(page.locator(".merge-form .auto-merge-button")).to_be_visible()
    # The inline comment is Markdown, sanitized.
    comment = page.locator(".review-comment-body").first
    expect(comment.locator("strong")).to_have_text("two")
    expect(comment.locator("code")).to_have_text("x")
    expect(comment.locator("li")).to_have_count(2)
    expect(comment.locator("script")).to_have_count(0)
    # The maintainers' audit form is laid out as the vote form above it is.
    assert style_of(page, ".audit-form", "display") == "flex"
    assert style_of(page, ".audit-form", "border-top-style") == "solid"
    page.locator("#votes").scroll_into_view_if_needed()
    shot(page, "rough-edges-change-page")

    page.click(".auto-merge-button")
    expect(page.locator(".flash")).to_contain_text("Auto-merge is on")
    expect(page.locator("select[name=method]")).to_have_count(1)
    page.click(".merge-button")
    page.goto(f"{live_server}/alice/project/queue")
    expect(page.locator(".queue-entry")).to_have_count(1)
    table = "table.queue-table"
    assert style_of(page, table, "border-collapse") == "collapse"
    assert style_of(page, f"{table} td.queue-position", "padding-left") == "16px"
    assert style_of(page, f"{table} tbody td", "border-top-width") == "1px"
    shot(page, "rough-edges-merge-queue")
    assert errors == [], errors


# --- the API ----------------------------------------------------------------------------------


def test_the_api_gives_the_repository_size_in_kb(hosted_repo, git, tmp_path, github):
    repo = hosted_repo()
    client = github(repo.token)
    assert client.get_repo("alice/project").size == 0  # nothing pushed yet
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    (work / "noise.bin").write_bytes(os.urandom(300_000))  # does not compress
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "noise", cwd=work)
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    size = client.get_repo("alice/project").size
    assert 290 <= size <= 340, size
    assert [r.size for r in client.get_user().get_repos()] == [size]

    (work / "more.bin").write_bytes(os.urandom(200_000))
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "more noise", cwd=work)
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    grown = client.get_repo("alice/project").size
    assert 190 <= grown - size <= 240, (size, grown)


# --- the favicon ----------------------------------------------------------------------------


def test_the_favicon_is_linked_and_answers(browser, live_server):
    icon = requests.get(f"{live_server}/favicon.ico", timeout=10)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/svg+xml")
    assert "<svg" in icon.text
    front = requests.get(f"{live_server}/", timeout=10).text
    href = re.search(r'<link rel="icon" href="([^"]+)"', front).group(1)
    linked = requests.get(live_server + href, timeout=10)
    assert linked.status_code == 200 and linked.content == icon.content

    page = new_page(browser)
    errors = watch_console(page)
    page.goto(f"{live_server}/")
    assert errors == [], errors  # the browser found the icon the page links
    # The icon itself, drawn at tab size and larger.
    tab, large = f"{live_server}/favicon.ico", live_server + href
    page.set_content(f'<img src="{tab}" width="16"> <img src="{large}" width="64">')
    expect(page.locator("img").nth(1)).to_have_js_property("naturalWidth", 32)
    page.screenshot(path=str(ARTIFACTS / "rough-edges-favicon.png"), clip=CLIP)


# --- the README's first change ----------------------------------------------------------------


def readme_scripts() -> list[str]:
    """The shell blocks of the README's first-change section, in order: the contributor's
    upload and second patch set, the reviewer's look and vote, the contributor's pull."""
    section = README.read_text().split("## Your first change", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def run_script(script: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_readme_walk_through_takes_a_change_from_clone_to_merged(
    git, hosted_repo, tmp_path, make_user, make_token, live_server, ci, settings, browser
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\nThis has a tpyo.\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    make_user("dana")  # a stranger to alice/project: no write access
    upload, review, pull = readme_scripts()
    clone_url = "http://127.0.0.1:8000/alice/project.git"
    assert clone_url in upload
    forge = "http://127.0.0.1:8000/"
    upload = upload.replace(clone_url, authed(repo.url, "dana", make_token("dana")))
    editor = tmp_path / "editor"
    editor.write_text('#!/bin/sh\nsed -i "s/tpyo/typo/" "$1"\necho "Edited." >> "$1"\n')
    editor.chmod(0o755)
    (tmp_path / "dana").mkdir()
    uploaded = run_script(
        upload.replace(forge, f"{live_server}/"),
        tmp_path / "dana",
        {**git.env, "EDITOR": str(editor)},
    )
    assert "Created change #1: Fix a typo in the README" in uploaded.stderr
    assert "Updated change #1 (patch set 2): Fix a typo in the README" in uploaded.stderr
    pulls = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls", timeout=30).json()
    assert [(p["number"], p["user"]["login"], p["base"]["ref"]) for p in pulls] == [
        (1, "dana", "main")
    ]

    # alice reviews from her clone, as the README's second block has it (the change is #1 here).
    git.run("clone", "-q", repo.push_url, str(tmp_path / "alice"))
    assert review.startswith("N=7 ")
    review = "N=1" + review[len("N=7") :]
    looked = run_script(
        review.replace(forge, f"{live_server}/"),
        tmp_path / "alice",
        {**git.env, "TOKEN": repo.token},
    )
    assert "+This has a typo." in looked.stdout and "+Edited." in looked.stdout
    # auto-submit put the approved change in main's merge queue; `forge serve`'s worker lands it.
    work_queue(settings)
    change = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls/1", timeout=30).json()
    assert change["merged"] is True, change

    pulled = run_script(pull, tmp_path / "dana" / "project", git.env)
    assert pulled.stdout.strip() == "Merge change #1: Fix a typo in the README"
    assert "This has a typo." in (tmp_path / "dana" / "project" / "README.md").read_text()

    page = new_page(browser)
    errors = watch_console(page)
    page.goto(f"{live_server}/alice/project/pull/1")
    expect(page.locator(".state")).to_contain_text("Merged")
    # As GitHub says it: who merged it (alice's vote submitted it), not who proposed it.
    expect(page.locator(".change-meta")).to_contain_text("alice merged 1 commit into main")
    shot(page, "rough-edges-walk-through-merged")
    assert errors == [], errors
