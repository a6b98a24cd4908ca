"""Change requests in the browser, through the Flask test client as a browser would get them:
the list, opening one from the compare page, the conversation, lazy file diffs, inline review,
closing, merging three ways, forks and the inbox. Repositories are filled with real pushes."""

from __future__ import annotations

import re

import pytest
from conftest import authed, form_post
from sqlalchemy import func, select

from forge.accounts import users as accounts
from forge.models import Change, Notification, Review, ReviewComment
from forge.repos import repositories as repo_service

APP = "".join(f"line {n}\n" for n in range(1, 21))
DESCRIPTION = "Makes **greetings** shorter.\n\n<script>alert(1)</script>\n\nSee @carol."


def text(response) -> str:
    return response.get_data(as_text=True)


def count(database, model) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database):
    """alice/project: main with app.py, and a branch `feature` two commits ahead; carol may
    write to it, bob is a stranger with a clone."""

    def make(private=False):
        repo = hosted_repo(private=private)
        work = git.init(tmp_path / "alice", {"app.py": APP, "docs/old.txt": "old\n"})
        git.run("push", repo.push_url, "main", cwd=work)
        git.run("checkout", "-q", "-b", "feature", cwd=work)
        git.commit(work, {"app.py": APP.replace("line 5\n", "line five\n")}, "Spell five")
        git.commit(work, {"new.txt": "brand new\n"}, "Add new.txt")
        git.run("push", repo.push_url, "feature", cwd=work)
        git.run("checkout", "-q", "main", cwd=work)
        for name in ("carol", "bob"):
            make_user(name)
        with database.session() as session:
            alice = accounts.get_user(session, "alice")
            found = repo_service.find_repository(session, "alice", "project")
            repo_service.set_collaborator(session, found, alice, "carol", "write")
        repo.work = work
        repo.bob_url = authed(repo.url, "bob", make_token("bob"))
        return repo

    return make


def fresh(app, login, name):
    return login(name, test_client=app.test_client())


def open_change(client, title="Spell five", description=DESCRIPTION, base="main", head="feature"):
    return form_post(
        client,
        f"/alice/project/compare/{base}...{head}",
        "/alice/project/pulls/new",
        {"title": title, "description": description, "base": base, "head": head},
    )


def sha_of(git, url, ref):
    out = git.run("ls-remote", url, ref).stdout.split()
    return out[0] if out else None


def test_open_a_change_from_the_compare_page_and_find_it_in_the_list(app, project, login):
    project()
    alice = fresh(app, login, "alice")
    compare = text(alice.get("/alice/project/compare/main...feature"))
    assert "Open a change request" in compare
    response = open_change(alice)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/alice/project/pull/1")

    page = text(alice.get("/alice/project/pull/1"))
    assert "Spell five" in page and "#1" in page
    assert re.search(r"wants to merge 2\s+commits\s+into", page)
    assert "<strong>greetings</strong>" in page  # Markdown, rendered
    assert "<script>alert" not in page  # and sanitized
    assert "No conflicts with the base branch" in page
    assert 'name="sha"' in page and "Merge change" in page

    listing = text(alice.get("/alice/project/pulls"))
    assert "Spell five" in listing and "1 Open" in listing and "0 Closed" in listing
    assert "New change request" in listing
    assert "Spell five" not in text(alice.get("/alice/project/pulls?state=closed"))
    # Anonymous readers of a public repository see it too, without forms that act.
    anonymous = app.test_client().get("/alice/project/pull/1")
    assert anonymous.status_code == 200 and "Merge change" not in text(anonymous)


@pytest.mark.parametrize(
    ("base", "head", "title", "message"),
    [
        ("main", "main", "Same", "the base and head branches are the same"),
        ("main", "nowhere", "Missing", "the head branch &#39;nowhere&#39; does not exist"),
        ("gone", "feature", "Missing base", "the base branch &#39;gone&#39; does not exist"),
        ("main", "feature", "", "Title: This field is required."),
    ],
)
def test_bad_openings_say_why_and_write_nothing(
    app, project, login, database, base, head, title, message
):
    project()
    alice = fresh(app, login, "alice")
    response = form_post(
        alice,
        "/alice/project/compare/main...feature",
        "/alice/project/pulls/new",
        {"title": title, "base": base, "head": head},
    )
    assert response.status_code == 400
    assert message in text(response), re.findall(r"flash-error[^>]*>([^<]*)", text(response))
    assert "Open a change request" in text(response)
    assert count(database, Change) == 0


def test_a_private_change_is_invisible_to_strangers(app, project, login):
    project(private=True)
    alice = fresh(app, login, "alice")
    assert open_change(alice).status_code == 302
    bob = fresh(app, login, "bob")
    carol = fresh(app, login, "carol")
    for url in (
        "/alice/project/pulls",
        "/alice/project/pull/1",
        "/alice/project/pull/1/commits",
        "/alice/project/pull/1/files",
        "/alice/project/pull/1/files/diff?path=app.py",
    ):
        assert bob.get(url).status_code == 404, url
        assert app.test_client().get(url).status_code == 404, url
        assert carol.get(url).status_code == 200, url


def test_files_are_listed_at_once_and_each_diff_is_its_own_fragment(app, project, login):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    files = text(alice.get("/alice/project/pull/1/files"))
    assert "app.py" in files and "new.txt" in files
    assert "hunk-head" not in files  # no diff inline: each file's diff comes on its own
    assert "/alice/project/pull/1/files/diff?ps=1&amp;path=app.py&amp;full=1" in files

    fragment = alice.get("/alice/project/pull/1/files/diff?ps=1&path=app.py")
    assert fragment.status_code == 200
    body = text(fragment)
    assert "<html" not in body and "five" in body
    assert 'class="add-comment"' in body and 'data-side="LEFT"' in body
    page = text(alice.get("/alice/project/pull/1/files/diff?ps=1&path=app.py&full=1"))
    assert "<html" in page and "five" in page and "All files of patch set 1" in page

    assert alice.get("/alice/project/pull/1/files/diff?path=README.md").status_code == 404
    assert alice.get("/alice/project/pull/1/files/diff?path=app.py&ps=7").status_code == 404
    commits = text(alice.get("/alice/project/pull/1/commits"))
    assert "Spell five" in commits and "Add new.txt" in commits


def add_inline(client, line=5, side="RIGHT", body="Why spell it out?", path="app.py"):
    return form_post(
        client,
        "/alice/project/pull/1/files",
        "/alice/project/pull/1/review-comments",
        {
            "c-path": path,
            "c-side": side,
            "c-line": str(line),
            "c-body": body,
            "c-next": "/alice/project/pull/1/files#x",
        },
    )


def test_a_draft_is_seen_by_its_author_only_until_the_review_is_submitted(
    app, project, login, database
):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    carol = fresh(app, login, "carol")
    response = add_inline(carol)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/alice/project/pull/1/files#x")

    fragment = "/alice/project/pull/1/files/diff?path=app.py"
    mine = text(carol.get(fragment))
    assert "Why spell it out?" in mine and "Pending" in mine
    assert "1 pending comment" in text(carol.get("/alice/project/pull/1/files"))
    assert "Why spell it out?" not in text(alice.get(fragment))
    assert "Why spell it out?" not in text(alice.get("/alice/project/pull/1"))

    submitted = form_post(
        carol,
        "/alice/project/pull/1",
        "/alice/project/pull/1/reviews",
        {"review-event": "REQUEST_CHANGES", "review-body": "Please keep digits."},
    )
    assert submitted.status_code == 302
    theirs = text(alice.get(fragment))
    assert "Why spell it out?" in theirs and "Pending" not in theirs
    conversation = text(alice.get("/alice/project/pull/1"))
    assert "requested changes" in conversation and "Please keep digits." in conversation
    assert "Why spell it out?" in conversation


def test_a_comment_on_a_line_that_does_not_exist_is_refused(app, project, login, database):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    carol = fresh(app, login, "carol")
    response = add_inline(carol, line=999)
    assert response.status_code == 400
    assert "line 999 does not exist on the right side of app.py" in text(response)
    response = add_inline(carol, path="README.md")
    assert response.status_code == 400 and "is not changed by this change" in text(response)
    assert count(database, ReviewComment) == 0
    assert count(database, Review) == 0


def test_reply_resolve_and_comments_on_the_base_side(app, project, login, database):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    carol = fresh(app, login, "carol")
    assert add_inline(carol, line=5, side="LEFT", body="The old spelling").status_code == 302
    form_post(
        carol,
        "/alice/project/pull/1",
        "/alice/project/pull/1/reviews",
        {"review-event": "COMMENT", "review-body": ""},
    )
    with database.session() as session:
        root = session.scalar(select(ReviewComment)).id
    replied = form_post(
        alice,
        "/alice/project/pull/1",
        f"/alice/project/pull/1/review-comments/{root}/replies",
        {"r-body": "Fixed in my head", "r-next": "/alice/project/pull/1"},
    )
    assert replied.status_code == 302
    page = text(alice.get("/alice/project/pull/1/files/diff?path=app.py"))
    assert "The old spelling" in page and "Fixed in my head" in page
    assert "Resolve conversation" in page

    resolved = form_post(
        alice,
        "/alice/project/pull/1",
        f"/alice/project/pull/1/review-comments/{root}/resolve",
        {"resolved": "1", "next": "https://evil.example/"},
    )
    assert resolved.status_code == 302
    assert resolved.headers["Location"].endswith("/alice/project/pull/1")  # not elsewhere
    page = text(alice.get("/alice/project/pull/1/files/diff?path=app.py"))
    assert "thread was resolved" in page and "Unresolve" in page


def test_close_and_reopen(app, project, login):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    bob = fresh(app, login, "bob")
    refused = form_post(bob, "/alice/project/pull/1", "/alice/project/pull/1/close", {})
    assert refused.status_code == 403
    assert "Close change" not in text(bob.get("/alice/project/pull/1"))

    assert (
        form_post(alice, "/alice/project/pull/1", "/alice/project/pull/1/close", {}).status_code
        == 302
    )
    page = text(alice.get("/alice/project/pull/1"))
    assert "closed this change" in page and "Reopen change" in page
    assert "Spell five" in text(alice.get("/alice/project/pulls?state=closed"))
    assert (
        form_post(alice, "/alice/project/pull/1", "/alice/project/pull/1/reopen", {}).status_code
        == 302
    )
    assert "reopened this change" in text(alice.get("/alice/project/pull/1"))


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merge_through_the_form(app, project, login, git, method, database):
    repo = project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    head = sha_of(git, repo.url, "refs/heads/feature")
    before = sha_of(git, repo.url, "refs/heads/main")
    merged = form_post(
        alice,
        "/alice/project/pull/1",
        "/alice/project/pull/1/merge",
        {"method": method, "sha": head},
    )
    assert merged.status_code == 302, text(merged)
    page = text(alice.get("/alice/project/pull/1"))
    assert "Merged" in page and "merged this change into" in page and f"({method}" in page
    main = sha_of(git, repo.url, "refs/heads/main")
    assert main not in (None, before)  # main moved to the merged commit
    git.run("fetch", "-q", repo.url, "main", cwd=repo.work)
    assert git.head(repo.work, "FETCH_HEAD") == main
    files = git.run("ls-tree", "-r", "--name-only", "FETCH_HEAD", cwd=repo.work).stdout
    assert "new.txt" in files
    log = git.run("log", "--format=%s", "FETCH_HEAD", cwd=repo.work).stdout
    expected = {"merge": "Merge change #1", "squash": "Spell five (#1)", "rebase": "Add new.txt"}
    assert log.splitlines()[0].startswith(expected[method])

    assert "Delete branch" in page
    deleted = form_post(alice, "/alice/project/pull/1", "/alice/project/pull/1/delete-branch", {})
    assert deleted.status_code == 302
    assert sha_of(git, repo.url, "refs/heads/feature") is None
    assert "Delete branch" not in text(alice.get("/alice/project/pull/1"))


def test_a_stale_head_sha_is_refused_and_changes_nothing(app, project, login, git, database):
    repo = project()
    alice = fresh(app, login, "alice")
    open_change(alice)
    before = sha_of(git, repo.url, "refs/heads/main")
    response = form_post(
        alice,
        "/alice/project/pull/1",
        "/alice/project/pull/1/merge",
        {"method": "merge", "sha": "0" * 40},
    )
    assert response.status_code == 400
    assert "the change&#39;s head moved since you looked at it" in text(response)
    assert sha_of(git, repo.url, "refs/heads/main") == before
    with database.session() as session:
        assert session.scalar(select(Change.state)) == "open"
    bob = fresh(app, login, "bob")
    head = sha_of(git, repo.url, "refs/heads/feature")
    refused = form_post(
        bob,
        "/alice/project/pull/1",
        "/alice/project/pull/1/merge",
        {"method": "merge", "sha": head},
    )
    assert refused.status_code == 403 and "write role" in text(refused)
    assert sha_of(git, repo.url, "refs/heads/main") == before


def test_mentions_reach_the_inbox_with_a_count_in_the_header(app, project, login, database):
    project()
    alice = fresh(app, login, "alice")
    open_change(alice, description="Plain.")
    carol = fresh(app, login, "carol")
    assert "Inbox <span" not in text(carol.get("/"))
    awaiting = text(carol.get("/notifications"))
    assert "Awaiting your review (1)" in awaiting and "alice/project#1: Spell five" in awaiting

    posted = form_post(
        alice, "/alice/project/pull/1", "/alice/project/pull/1/comments", {"body": "@carol, look?"}
    )
    assert posted.status_code == 302
    assert "@carol, look?" in text(alice.get("/alice/project/pull/1"))
    assert 'Inbox <span class="count">1</span>' in text(carol.get("/"))
    inbox = text(carol.get("/notifications"))
    assert "Mentioned" in inbox and "alice mentioned you" in inbox
    marked = form_post(carol, "/notifications", "/notifications/read", {})
    assert marked.status_code == 302
    assert "Nothing new." in text(carol.get("/notifications"))
    with database.session() as session:
        assert session.scalar(select(func.count()).where(Notification.read.is_(False))) == 0


def test_fork_and_propose_from_the_fork(app, project, login, git, database, make_token, tmp_path):
    repo = project()
    bob = fresh(app, login, "bob")
    forked = form_post(bob, "/alice/project", "/alice/project/fork", {})
    assert forked.status_code == 302 and forked.headers["Location"].endswith("/bob/project")
    assert "forked from" in text(bob.get("/bob/project"))
    fork_url = authed(repo.url.replace("/alice/", "/bob/"), "bob", make_token("bob"))
    work = tmp_path / "bob"
    git.run("clone", "-q", fork_url, str(work))
    git.commit(work, {"app.py": APP + "line 21\n"}, "One more line")
    git.run("push", "-q", fork_url, "HEAD:refs/heads/more", cwd=work)

    compare = text(bob.get("/bob/project/compare/main...more"))
    assert 'action="/alice/project/pulls/new"' in compare and "bob:more" in compare
    opened = form_post(
        bob,
        "/bob/project/compare/main...more",
        "/alice/project/pulls/new",
        {"title": "More lines", "base": "main", "head": "bob:more"},
    )
    assert opened.status_code == 302
    page = text(bob.get(opened.headers["Location"]))
    assert "More lines" in page and "bob:more" in page
    # Forking your own repository is refused with a message, not an error page.
    alice = fresh(app, login, "alice")
    own = form_post(alice, "/bob/project", "/alice/project/fork", {}, follow_redirects=True)
    assert "you cannot fork your own repository" in text(own)


def test_patch_sets_and_the_interdiff(app, project, login, git, tmp_path):
    repo = project()
    work = tmp_path / "bob-clone"
    git.run("clone", "-q", repo.bob_url, str(work))
    git.install_change_id_hook(work)
    for n, content in enumerate(("first try\n", "second try\n", "third try\n"), 1):
        # Each try amends the one before, its Change-Id kept: patch sets of one change.
        (work / "notes.txt").write_text(content)
        (work / f"step{n}.txt").write_text("x\n")
        git.run("add", "-A", cwd=work)
        kept = ["--amend", "-m", git.change_id_trailer(work)] if n > 1 else []
        git.run("commit", "-q", "-m", f"Patch set {n}", *kept, cwd=work)
        git.run("push", "-q", "-o", "topic=notes", repo.bob_url, "HEAD:refs/for/main", cwd=work)
    carol = fresh(app, login, "carol")
    page = text(carol.get("/alice/project/pull/1"))
    assert "uploaded patch set 3" in page and "changes since patch set 2" in page
    files = text(carol.get("/alice/project/pull/1/files?ps=3&against=2"))
    assert "Interdiff: what changed from patch set 2 to 3" in files
    assert "notes.txt" in files and "step3.txt" in files and "step1.txt" not in files
    fragment = text(carol.get("/alice/project/pull/1/files/diff?ps=3&against=2&path=notes.txt"))
    assert "second try" in fragment and "third try" in fragment
    assert 'data-side="RIGHT"' in fragment and 'data-side="LEFT"' not in fragment
    old = text(carol.get("/alice/project/pull/1/files/diff?ps=1&path=notes.txt"))
    assert "first try" in old and "add-comment" not in old  # comments go on the current one
    assert carol.get("/alice/project/pull/1/files?ps=2&against=2").status_code == 400
