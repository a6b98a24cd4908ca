"""Reviews the way older GitHub clients make them, and a pull request's diff and patch:
review comments placed by `position` in the file's diff (as well as by line and side), and
`.diff`/`.patch` media types on a pull request that `git apply`/`git am` take. PyGithub drives a
live server; bad input answers 422 and writes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from github import GithubException

from forge.accounts import users as accounts
from forge.repos import repositories as repos

APP = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, settings, github):
    """alice's repository: main has app.py (20 lines); `feature` changes line 2, removes line
    15 and adds new.txt, and bob opened it as pull request #1. carol reads and reviews."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"app.py": APP, "README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    changed = APP.replace("line 2\n", "line two\n").replace("line 15\n", "")
    git.commit(work, {"app.py": changed}, "Spell out two, drop fifteen")
    git.commit(work, {"new.txt": "fresh\n"}, "Add new.txt")
    git.run("push", "-q", repo.push_url, "feature", cwd=work)
    make_user("bob")
    make_user("carol")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, owner, "bob", "write")
    bob_token = make_token("bob")
    bob = github(bob_token).get_repo("alice/project")
    bob.create_pull("main", "feature", title="Spell it out")
    carol_token = make_token("carol")
    return SimpleNamespace(
        hosted=repo,
        work=work,
        alice=github(repo.token).get_repo("alice/project"),
        bob=bob,
        bob_token=bob_token,
        carol=github(carol_token).get_repo("alice/project"),
        carol_token=carol_token,
    )


def rejected(call, status: int) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()
    assert caught.value.status == status, caught.value.data
    return caught.value


# --- review comments by diff position -------------------------------------------------------


def test_review_comments_by_position_land_on_the_line_the_patch_shows(project, api):
    pull = project.carol.get_pull(1)
    app = next(f for f in pull.get_files() if f.filename == "app.py")
    patch = app.patch.split("\n")
    # A client counts lines of the file's patch below its first @@ header.
    added = patch.index("+line two")
    removed = patch.index("-line 15")
    review = pull.create_review(
        event="COMMENT",
        comments=[
            {"path": "app.py", "position": added, "body": "Why spell it?"},
            {"path": "app.py", "position": removed, "body": "Where did it go?"},
        ],
    )
    placed = sorted(
        (c.body, c.line, c.side)
        for c in pull.get_review_comments()
        if c.pull_request_review_id == review.id
    )
    assert placed == [("Where did it go?", 15, "LEFT"), ("Why spell it?", 2, "RIGHT")]
    # Read back, each sits where it was put, with the hunk down to its line.
    read = {c.body: c for c in pull.get_review_comments()}
    assert (read["Why spell it?"].position, read["Where did it go?"].position) == (added, removed)
    assert read["Why spell it?"].diff_hunk.startswith("@@ -1,")
    assert read["Why spell it?"].diff_hunk.endswith("\n+line two")
    assert read["Where did it go?"].diff_hunk.endswith("\n-line 15")
    # The single-comment form takes a position too. (PyGithub's create_comment sends its
    # `position` argument as `line`, so plain HTTP says it as GitHub documents it.)
    single = api(
        "POST", "/repos/alice/project/pulls/1/comments", project.carol_token,
        json={"body": "And this?", "commit_id": pull.head.sha, "path": "app.py",
              "position": added},
    )  # fmt: skip
    assert single.status_code == 201, single.text
    assert (single.json()["line"], single.json()["side"]) == (2, "RIGHT")
    # And line/side still work side by side with it.
    by_line = pull.create_review_comment("Context", pull.head.sha, "app.py", line=5, side="RIGHT")
    assert (by_line.line, by_line.position) == (5, patch.index(" line 5"))


def test_bad_positions_answer_422_and_write_nothing(project):
    pull = project.carol.get_pull(1)
    app = next(f for f in pull.get_files() if f.filename == "app.py")
    length = len(app.patch.split("\n"))
    for comment, words in [
        ({"path": "app.py", "position": length, "body": "x"}, "past the end of the diff"),
        ({"path": "app.py", "position": 0, "body": "x"}, "positive"),
        ({"path": "README.md", "position": 1, "body": "x"}, "not changed"),
        ({"path": "app.py", "body": "x"}, "needs a line"),
    ]:
        error = rejected(lambda c=comment: pull.create_review(event="COMMENT", comments=[c]), 422)
        assert words in error.data["message"], error.data
    # Line 2 and line 15 are far apart: two hunks. The second header has a position but is
    # no line to comment on.
    lines = app.patch.split("\n")
    header = [i for i, line in enumerate(lines) if line.startswith("@@")][1]
    error = rejected(lambda: pull.create_review(event="COMMENT", comments=[
        {"path": "app.py", "position": header, "body": "x"}]), 422)  # fmt: skip
    assert "hunk header" in error.data["message"]
    assert list(pull.get_review_comments()) == []


# --- a pull request's diff and patch --------------------------------------------------------


def test_a_pull_requests_diff_and_patch_apply_with_git(project, api, git, tmp_path):
    def ask(kind: str) -> bytes:
        answer = api("GET", "/repos/alice/project/pulls/1", project.carol_token,
                     headers={"Accept": f"application/vnd.github.v3.{kind}"})  # fmt: skip
        assert answer.headers["Content-Type"].startswith(f"application/vnd.github.{kind}")
        return answer.content

    diff, patch = ask("diff"), ask("patch")
    assert diff.startswith(b"diff --git a/app.py b/app.py")
    assert patch.count(b"\nSubject: [PATCH ") == 2
    clone = tmp_path / "clone"
    git.run("clone", "-q", project.hosted.url, str(clone))
    git.run("checkout", "-q", "-b", "applied", cwd=clone)
    git.run("am", "-q", input=patch.decode(), cwd=clone)
    assert git.head(clone, "HEAD^{tree}") == git.head(clone, "origin/feature^{tree}")
    git.run("checkout", "-q", "-b", "diffed", "main", cwd=clone)
    git.run("apply", "--index", input=diff.decode(), cwd=clone)
    git.run("commit", "-q", "-m", "diffed", cwd=clone)
    assert git.head(clone, "HEAD^{tree}") == git.head(clone, "origin/feature^{tree}")


# --- dismissing a review --------------------------------------------------------------------


def code_review_votes(api, token) -> dict[str, int]:
    answer = api("GET", "/repos/alice/project/pulls/1/votes", token)
    assert answer.status_code == 200, answer.text
    return {v["user"]: v["value"] for v in answer.json()["votes"] if v["label"] == "Code-Review"}


def test_a_maintainer_dismisses_a_review_and_its_vote_stops_counting(project, api):
    approval = project.carol.get_pull(1).create_review(body="Ship it", event="APPROVE")
    assert code_review_votes(api, project.carol_token) == {"carol": 1}
    pull = project.alice.get_pull(1)
    # bob may write but not dismiss others' reviews; a reason is required.
    rejected(lambda: project.bob.get_pull(1).get_review(approval.id).dismiss("No"), 403)
    error = rejected(lambda: pull.get_review(approval.id).dismiss(""), 422)
    assert error.data["errors"][0]["field"] == "message"
    assert pull.get_review(approval.id).state == "APPROVED"

    review = pull.get_review(approval.id)
    review.dismiss("The approval predates the rewrite")
    assert review.state == "DISMISSED"
    assert pull.get_review(approval.id).state == "DISMISSED"
    assert code_review_votes(api, project.carol_token) == {}
    # carol hears of it.
    notes = api("GET", "/notifications", project.carol_token).json()
    assert any(n["reason"] == "state_change" for n in notes), notes


def test_only_verdicts_can_be_dismissed(project):
    comment = project.carol.get_pull(1).create_review(body="Hmm", event="COMMENT")
    error = rejected(lambda: project.alice.get_pull(1).get_review(comment.id).dismiss("x"), 422)
    assert error.data["message"] == "Can not dismiss a commented pull request review"
    rejected(lambda: project.alice.get_pull(1).get_review(99999).dismiss("x"), 404)


# --- review requests ------------------------------------------------------------------------


def test_request_reviewers_list_them_and_take_a_request_back(project, make_user, api):
    make_user("dave")
    pull = project.bob.get_pull(1)
    pull.create_review_request(reviewers=["carol", "dave"])
    users, teams = pull.get_review_requests()
    assert ([u.login for u in users], list(teams)) == (["carol", "dave"], [])
    assert [u.login for u in project.bob.get_pull(1).requested_reviewers] == ["carol", "dave"]
    # carol is told, and once she reviews her request is answered.
    notes = api("GET", "/notifications", project.carol_token).json()
    assert [n["reason"] for n in notes] == ["review_requested"]
    project.carol.get_pull(1).create_review(body="Fine by me", event="COMMENT")
    assert [u.login for u in pull.get_review_requests()[0]] == ["dave"]
    pull.delete_review_request(reviewers=["dave"])
    assert list(pull.get_review_requests()[0]) == []


def test_review_requests_refused_clearly(project):
    pull = project.bob.get_pull(1)
    error = rejected(lambda: pull.create_review_request(reviewers=["bob"]), 422)
    assert error.data["message"] == "Review cannot be requested from pull request author."
    error = rejected(lambda: pull.create_review_request(reviewers=["nobody-here"]), 422)
    assert "nobody-here" in error.data["message"]
    rejected(lambda: pull.create_review_request(team_reviewers=["core"]), 422)
    # A reader who is not the author may not ask.
    rejected(lambda: project.carol.get_pull(1).create_review_request(reviewers=["alice"]), 403)
    assert list(pull.get_review_requests()[0]) == []


# --- drafts ---------------------------------------------------------------------------------


def test_a_draft_pull_does_not_merge_until_ready_for_review(project, git, api):
    git.run("checkout", "-q", "-b", "later", "main", cwd=project.work)
    git.commit(project.work, {"later.txt": "later\n"}, "Later")
    git.run("push", "-q", project.hosted.push_url, "later", cwd=project.work)
    draft = project.bob.create_pull("main", "later", title="Not yet", draft=True)
    assert draft.draft is True
    assert project.alice.get_pull(draft.number).draft is True
    refused = rejected(lambda: project.alice.get_pull(draft.number).merge(), 405)
    assert "work in progress" in refused.data["message"]
    # Only its author (or a maintainer) says it is ready. (GitHub's REST has no call for it,
    # only GraphQL; forge takes `draft` in the update of a pull request.)
    path = f"/repos/alice/project/pulls/{draft.number}"
    carol = api("PATCH", path, project.carol_token, json={"draft": False})
    assert carol.status_code == 403
    assert project.bob.get_pull(draft.number).draft is True
    ready = api("PATCH", path, project.bob_token, json={"draft": False})
    assert ready.status_code == 200 and ready.json()["draft"] is False
    assert project.bob.get_pull(draft.number).draft is False
    merged = project.alice.get_pull(draft.number).merge()
    assert merged.merged


def test_the_change_page_marks_a_draft_ready_for_review(project, git, app, login):
    from conftest import form_post

    git.run("checkout", "-q", "-b", "later", "main", cwd=project.work)
    git.commit(project.work, {"later.txt": "later\n"}, "Later")
    git.run("push", "-q", project.hosted.push_url, "later", cwd=project.work)
    number = project.bob.create_pull("main", "later", title="Not yet", draft=True).number
    page = f"/alice/project/pull/{number}"
    carol = login("carol", test_client=app.test_client())
    assert "Ready for review" not in carol.get(page).get_data(as_text=True)
    refused = form_post(carol, page, page + "/ready", {})
    assert refused.status_code == 403
    bob = login("bob", test_client=app.test_client())
    assert "Ready for review" in bob.get(page).get_data(as_text=True)
    assert form_post(bob, page, page + "/ready", {}).status_code == 302
    shown = bob.get(page).get_data(as_text=True)
    assert "marked this change ready for review" in shown and "Ready for review" not in shown
    assert project.alice.get_pull(number).draft is False
    # A post without the form's CSRF token is refused.
    assert bob.post(page + "/ready", data={}).status_code == 400
