"""Pull requests through the GitHub-shaped API, driven by PyGithub against a live server:
opening from branches and forks, reviews and comments, statuses, contents, and merging three
ways, checked with the real git. Bad requests answer clearly and change nothing."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from conftest import authed
from github import GithubException, UnknownObjectException

from forge.accounts import users as accounts
from forge.repos import repositories as repos

APP = "".join(f"line {i}\n" for i in range(1, 11))


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, settings, github):
    """alice's public repository: main with app.py, and a branch `feature` two commits ahead
    (app.py line 2 changed, new.txt added). bob collaborates with write, maya with maintain
    (her approval is a Code-Review +2); carol is a stranger."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"app.py": APP, "README.md": "# project\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    first = git.commit(work, {"app.py": APP.replace("line 2\n", "line two\n")}, "Spell out two")
    second = git.commit(work, {"new.txt": "fresh\n"}, "Add new.txt")
    git.run("push", repo.push_url, "feature", cwd=work)
    git.run("checkout", "-q", "main", cwd=work)
    make_user("bob")
    make_user("carol")
    make_user("maya")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, owner, "bob", "write")
        repos.set_collaborator(session, found, owner, "maya", "maintain")
    bob_token, carol_token = make_token("bob"), make_token("carol")
    return SimpleNamespace(
        hosted=repo,
        work=work,
        bare=settings.repos_dir / "alice" / "project.git",
        feature=[first, second],
        alice=github(repo.token).get_repo("alice/project"),
        bob=github(bob_token).get_repo("alice/project"),
        carol=github(carol_token).get_repo("alice/project"),
        maya=github(make_token("maya")).get_repo("alice/project"),
        carol_gh=github(carol_token),
        alice_gh=github(repo.token),
        tokens={"alice": repo.token, "bob": bob_token, "carol": carol_token},
    )


def tip(git, project, branch="main") -> str:
    return git.run("rev-parse", f"refs/heads/{branch}", cwd=project.bare).stdout.strip()


def parents(git, project, sha) -> list[str]:
    return git.run("rev-list", "--parents", "-n1", sha, cwd=project.bare).stdout.split()[1:]


def rejected(call, status: int) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()
    assert caught.value.status == status, caught.value.data
    return caught.value


# --- opening, reading, listing --------------------------------------------------------------


def test_open_a_pull_from_a_branch_and_read_it_back(project, api, live_server):
    pull = project.bob.create_pull("main", "feature", title="Spell it out", body="Please")
    assert (pull.number, pull.state, pull.title, pull.body) == (1, "open", "Spell it out", "Please")
    assert pull.user.login == "bob"
    assert (pull.head.label, pull.head.ref, pull.head.sha) == (
        "alice:feature",
        "feature",
        project.feature[1],
    )
    assert (pull.base.label, pull.base.ref) == ("alice:main", "main")
    assert pull.head.repo.full_name == pull.base.repo.full_name == "alice/project"
    assert pull.html_url == f"{live_server}/alice/project/pull/1"
    assert (pull.merged, pull.mergeable, pull.mergeable_state) == (False, True, "clean")
    assert (pull.commits, pull.additions, pull.deletions, pull.changed_files) == (2, 2, 1, 2)
    assert (pull.draft, pull.maintainer_can_modify, pull.labels) == (False, False, [])

    again = project.carol.get_pull(1)
    assert (again.title, again.head.sha, again.comments, again.review_comments) == (
        "Spell it out",
        project.feature[1],
        0,
        0,
    )

    files = {f.filename: f for f in pull.get_files()}
    assert set(files) == {"app.py", "new.txt"}
    assert (files["app.py"].status, files["app.py"].additions, files["app.py"].deletions) == (
        "modified",
        1,
        1,
    )
    assert "-line 2\n+line two" in files["app.py"].patch
    assert (
        files["new.txt"].status == "added" and files["new.txt"].patch == "@@ -0,0 +1,1 @@\n+fresh"
    )
    commits = list(pull.get_commits())
    assert [c.sha for c in commits] == project.feature
    assert commits[0].commit.message == "Spell out two"
    assert commits[0].commit.author.name == "Test Author"


def test_list_pulls_with_filters_and_pages(git, project, api):
    git.run("checkout", "-q", "-b", "other", cwd=project.work)
    git.commit(project.work, {"other.txt": "x\n"}, "Other work")
    git.run("push", project.hosted.push_url, "other", cwd=project.work)
    project.alice.create_pull("main", "feature", title="First")
    project.alice.create_pull("main", "alice:other", title="Second")

    def numbers(**filters):
        return [p.number for p in project.carol.get_pulls(**filters)]

    assert numbers() == [2, 1]
    assert numbers(head="alice:feature") == [1]
    assert numbers(head="carol:feature") == []
    assert numbers(base="main") == [2, 1]
    assert numbers(base="feature") == []
    project.alice.get_pull(2).edit(state="closed")
    assert numbers(state="open") == [1]
    assert numbers(state="closed") == [2]
    assert numbers(state="all") == [2, 1]

    page = api("GET", "/repos/alice/project/pulls?per_page=1&state=all")
    assert [p["number"] for p in page.json()] == [2]
    assert 'rel="next"' in page.headers["Link"]
    assert api("GET", "/repos/alice/project/pulls?state=merged").status_code == 422


def test_edit_close_and_reopen(project):
    pull = project.bob.create_pull("main", "feature", title="Draft title")
    pull.edit(title="Final title", body="The story")
    assert (pull.title, pull.body) == ("Final title", "The story")
    pull.edit(state="closed")
    assert pull.state == "closed" and pull.closed_at is not None
    assert [p.number for p in project.carol.get_pulls(state="closed")] == [1]
    # A stranger may neither edit nor close someone else's pull.
    rejected(lambda: project.carol.get_pull(1).edit(state="open"), 403)
    pull.edit(state="open")
    assert (pull.state, pull.closed_at) == ("open", None)
    assert project.alice.get_pull(1).title == "Final title"


@pytest.mark.parametrize(
    ("base", "head", "message"),
    [
        ("main", "nowhere", "the head branch 'nowhere' does not exist"),
        ("nowhere", "feature", "the base branch 'nowhere' does not exist"),
        ("main", "main", "the base and head branches are the same"),
        ("main", "orphan", "the branches have no history in common"),
        ("main", "same", "there are no commits between main and same"),
        ("main", "dave:feature", "dave has no fork of alice/project"),
    ],
)
def test_bad_pull_requests_say_why_and_open_nothing(git, project, base, head, message):
    git.run("branch", "same", "main", cwd=project.work)
    git.run("checkout", "-q", "--orphan", "orphan", cwd=project.work)
    git.commit(project.work, {"alone.txt": "alone\n"}, "Unrelated")
    git.run("push", project.hosted.push_url, "same", "orphan", cwd=project.work)
    error = rejected(lambda: project.bob.create_pull(base, head, title="Bad"), 422)
    assert error.data["message"] == message
    assert list(project.alice.get_pulls(state="all")) == []
    refs = git.run("for-each-ref", "refs/pull", cwd=project.bare).stdout
    assert refs == ""


def test_a_pull_needs_a_title_a_head_and_a_base(project, api):
    token = project.tokens["bob"]
    for body, field in (
        ({"head": "feature", "base": "main"}, "title"),
        ({"title": "x", "base": "main"}, "head"),
        ({"title": "x", "head": "feature"}, "base"),
    ):
        answer = api("POST", "/repos/alice/project/pulls", token, json=body)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == field
    assert api("GET", "/repos/alice/project/pulls?state=all").json() == []


def test_a_private_repositorys_pulls_are_invisible_to_strangers(
    git, hosted_repo, tmp_path, make_user, make_token, github, api
):
    repo = hosted_repo(name="secret", private=True)
    work = git.init(tmp_path / "secret")
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    git.commit(work, {"x.txt": "x\n"}, "x")
    git.run("push", repo.push_url, "feature", cwd=work)
    github(repo.token).get_repo("alice/secret").create_pull("main", "feature", title="Hidden")
    make_user("eve")
    eve = make_token("eve")
    for path in (
        "/pulls",
        "/pulls/1",
        "/pulls/1/files",
        "/pulls/1/commits",
        "/pulls/1/reviews",
        "/pulls/1/comments",
        "/issues/1/comments",
        "/contents/x.txt",
        "/commits/main",
        "/forks",
    ):
        for token in (eve, None):
            answer = api("GET", f"/repos/alice/secret{path}", token)
            assert answer.status_code == 404, path
    answer = api("POST", "/repos/alice/secret/forks", eve)
    assert answer.status_code == 404
    assert github(eve).get_user().get_repos().totalCount == 0
    answer = api("POST", "/repos/alice/secret/issues/1/comments", eve, json={"body": "hi"})
    assert answer.status_code == 404


# --- reviews and comments -------------------------------------------------------------------


def test_reviews_with_inline_comments(project):
    project.alice.create_pull("main", "feature", title="Spell it out")
    pull = project.bob.get_pull(1)
    review = pull.create_review(
        body="Looks right",
        event="APPROVE",
        comments=[
            {"path": "app.py", "line": 2, "side": "RIGHT", "body": "Nice"},
            {"path": "app.py", "line": 2, "side": "LEFT", "body": "Was a digit"},
        ],
    )
    assert (review.state, review.body, review.user.login) == ("APPROVED", "Looks right", "bob")
    assert review.commit_id == project.feature[1]
    inline = list(pull.get_single_review_comments(review.id))
    assert [(c.path, c.line, c.side, c.body) for c in inline] == [
        ("app.py", 2, "RIGHT", "Nice"),
        ("app.py", 2, "LEFT", "Was a digit"),
    ]
    assert inline[0].pull_request_review_id == review.id
    assert inline[0].commit_id == project.feature[1]

    carol_pull = project.carol.get_pull(1)
    asked = carol_pull.create_review(body="Please rename", event="REQUEST_CHANGES")
    assert asked.state == "CHANGES_REQUESTED"
    assert [(r.user.login, r.state) for r in pull.get_reviews()] == [
        ("bob", "APPROVED"),
        ("carol", "CHANGES_REQUESTED"),
    ]
    assert pull.get_review(review.id).body == "Looks right"

    # The author may not approve their own pull request.
    own = project.alice.get_pull(1)
    error = rejected(lambda: own.create_review(body="Mine", event="APPROVE"), 422)
    assert "your own change" in error.data["message"]
    assert len(list(pull.get_reviews())) == 2


def test_review_comments_replies_edits_and_deletes(project):
    project.alice.create_pull("main", "feature", title="Spell it out")
    pull = project.carol.get_pull(1)
    head = pull.head.sha
    comment = pull.create_review_comment("Why two?", head, "app.py", line=2, side="RIGHT")
    # Line 2 is the diff's third line below its @@ header (" line 1", "-line 2", "+line two").
    assert (comment.path, comment.line, comment.position, comment.user.login) == (
        "app.py",
        2,
        3,
        "carol",
    )
    reply = project.alice.get_pull(1).create_review_comment_reply(comment.id, "Clarity")
    assert reply.in_reply_to_id == comment.id
    also = project.bob.get_pull(1).create_review_comment(
        "Agreed", head, "app.py", in_reply_to=comment.id
    )
    assert also.in_reply_to_id == comment.id
    assert [c.body for c in pull.get_review_comments()] == ["Why two?", "Clarity", "Agreed"]
    assert project.carol.get_pull(1).review_comments == 3

    # A line that does not exist, or a file the pull does not change: 422, nothing written.
    error = rejected(
        lambda: pull.create_review_comment("Here?", head, "app.py", line=99, side="RIGHT"), 422
    )
    assert error.data["message"] == "line 99 does not exist on the right side of app.py"
    error = rejected(lambda: pull.create_review_comment("?", head, "README.md", line=1), 422)
    assert error.data["message"] == "'README.md' is not changed by this change"
    error = rejected(lambda: pull.create_review(event="COMMENT", comments=[
        {"path": "app.py", "position": 99, "body": "old style"}]), 422)  # fmt: skip
    assert "past the end of the diff" in error.data["message"]
    assert len(list(pull.get_review_comments())) == 3

    # Only the author or a maintainer edits or deletes a comment.
    comment.edit("Why spell out two?")
    assert pull.get_review_comment(comment.id).body == "Why spell out two?"
    rejected(lambda: project.bob.get_pull(1).get_review_comment(comment.id).delete(), 403)
    project.alice.get_pull(1).get_review_comment(also.id).delete()
    assert [c.body for c in pull.get_review_comments()] == ["Why spell out two?", "Clarity"]


def test_conversation_comments_and_notifications(project):
    project.alice.create_pull("main", "feature", title="Spell it out")
    first = project.bob.get_pull(1).create_issue_comment("Ship it, @carol?")
    second = project.carol.get_pull(1).create_issue_comment("Fine by me")
    pull = project.alice.get_pull(1)
    assert [(c.user.login, c.body) for c in pull.get_issue_comments()] == [
        ("bob", "Ship it, @carol?"),
        ("carol", "Fine by me"),
    ]
    assert pull.comments == 2
    first.edit("Ship it, @carol!")
    assert pull.get_issue_comment(first.id).body == "Ship it, @carol!"
    rejected(lambda: project.carol.get_pull(1).get_issue_comment(first.id).edit("no"), 403)
    pull.get_issue_comment(second.id).delete()  # alice owns the repository
    assert [c.body for c in pull.get_issue_comments()] == ["Ship it, @carol!"]
    rejected(lambda: pull.create_issue_comment("   "), 422)

    inbox = list(project.alice_gh.get_user().get_notifications())
    assert {n.reason for n in inbox} == {"author"}
    assert inbox[0].subject.type == "PullRequest"
    assert inbox[0].subject.title == "Spell it out"
    assert inbox[0].repository.full_name == "alice/project"
    carols = list(project.carol_gh.get_user().get_notifications())
    assert [n.reason for n in carols] == ["mention"]
    project.alice_gh.get_user().mark_notifications_as_read()
    assert list(project.alice_gh.get_user().get_notifications()) == []


# --- commits, statuses, contents ------------------------------------------------------------


def test_commits_statuses_and_contents(project, live_server):
    commit = project.bob.get_commit(project.feature[0])
    assert commit.commit.message == "Spell out two"
    assert commit.commit.author.email == "author@example.org"
    assert [p.sha for p in commit.parents] == [project.alice.get_branch("main").commit.sha]
    assert [(f.filename, f.additions, f.deletions) for f in commit.files] == [("app.py", 1, 1)]
    assert (commit.stats.additions, commit.stats.deletions, commit.stats.total) == (1, 1, 2)
    assert commit.commit.tree.sha

    commit.create_status("pending", context="ci/build", description="building")
    commit.create_status("success", context="ci/build", description="built")
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count) == ("success", 1)

    file = project.carol.get_contents("app.py", ref="feature")
    assert (file.type, file.encoding, file.name, file.path) == (
        "file",
        "base64",
        "app.py",
        "app.py",
    )
    assert file.decoded_content.decode() == APP.replace("line 2\n", "line two\n")
    assert file.size == len(file.decoded_content)
    assert file.download_url == f"{live_server}/alice/project/raw/feature/app.py"
    assert project.carol.get_contents("app.py").decoded_content.decode() == APP
    listing = project.carol.get_contents("", ref="feature")
    assert sorted((e.name, e.type) for e in listing) == [
        ("README.md", "file"),
        ("app.py", "file"),
        ("new.txt", "file"),
    ]
    with pytest.raises(UnknownObjectException):
        project.carol.get_contents("missing.txt")
    with pytest.raises(UnknownObjectException):
        project.carol.get_commit("0" * 40)


# --- forks ------------------------------------------------------------------------------------


def test_a_stranger_forks_and_proposes_from_the_fork(git, project, live_server, tmp_path):
    fork = project.carol.create_fork()
    assert (fork.full_name, fork.fork, fork.parent.full_name, fork.source.full_name) == (
        "carol/project",
        True,
        "alice/project",
        "alice/project",
    )
    assert [f.full_name for f in project.alice.get_forks()] == ["carol/project"]
    assert project.alice.fork is False

    clone = tmp_path / "carol"
    carol_url = authed(f"{live_server}/carol/project.git", "carol", project.tokens["carol"])
    git.run("clone", "-q", carol_url, str(clone))
    git.run("checkout", "-q", "-b", "fix", cwd=clone)
    fix = git.commit(clone, {"README.md": "# project, fixed\n"}, "Fix the README")
    git.run("push", "-q", carol_url, "fix", cwd=clone)

    pull = project.carol.create_pull("main", "carol:fix", title="Fix the README")
    assert (pull.head.label, pull.head.ref, pull.head.sha) == ("carol:fix", "fix", fix)
    assert pull.head.repo.full_name == "carol/project"
    assert pull.head.user.login == "carol"
    assert [p.number for p in project.alice.get_pulls(head="carol:fix")] == [1]
    assert [f.filename for f in pull.get_files()] == ["README.md"]
    # A second fork request answers the fork carol has.
    assert project.carol.create_fork().full_name == "carol/project"


# --- merging --------------------------------------------------------------------------------


def advance_main(git, project) -> str:
    """Someone else's commit on main after the branch left it (touching another file)."""
    git.commit(project.work, {"other.txt": "other\n"}, "Meanwhile on main")
    git.run("push", "-q", project.hosted.push_url, "main", cwd=project.work)
    return tip(git, project)


def approve(project, number: int = 1) -> None:
    """A maintainer's approval (Code-Review +2): what a writer's merge needs under the gate."""
    project.maya.get_pull(number).create_review(event="APPROVE")


def show(git, project, rev: str, path: str) -> str:
    return git.run("show", f"{rev}:{path}", cwd=project.bare).stdout


def test_merge_with_a_merge_commit(git, project):
    before = advance_main(git, project)
    pull = project.alice.create_pull("main", "feature", title="Spell it out")
    approve(project)
    result = project.bob.get_pull(1).merge(merge_method="merge", sha=pull.head.sha)
    assert (result.merged, result.message) == (True, "Pull Request successfully merged")
    after = tip(git, project)
    assert result.sha == after
    assert parents(git, project, after) == [before, project.feature[1]]
    merged = project.carol.get_pull(1)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, after)
    assert merged.merged_by.login == "bob" and merged.merged_at is not None
    assert merged.is_merged()
    assert not project.carol.get_pull(1).mergeable
    git.run("fsck", "--strict", cwd=project.bare)


def test_concurrent_merges_of_one_pull_make_one_merge_commit(git, project, api):
    """Six merges of one pull at the same moment, from two people: the database decides, so
    exactly one lands; the others are told it is not mergeable (405) or busy (409)."""
    before = tip(git, project)
    project.alice.create_pull("main", "feature", title="Spell it out")
    approve(project)
    start = threading.Barrier(6)
    answers: list[int] = []

    def merge(token: str) -> None:
        start.wait(timeout=30)
        answer = api("PUT", "/repos/alice/project/pulls/1/merge", token, json={})
        answers.append(answer.status_code)

    threads = [
        threading.Thread(target=merge, args=(project.tokens[name],))
        for name in ("alice", "bob") * 3
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(answers)[0] == 200 and answers.count(200) == 1, answers
    assert set(answers) - {200} <= {405, 409}, answers
    after = tip(git, project)
    assert parents(git, project, after) == [before, project.feature[1]]
    merges = git.run("rev-list", "--merges", f"{before}..{after}", cwd=project.bare)
    assert merges.stdout.split() == [after]


def test_squash_makes_one_commit_with_the_merged_tree(git, project):
    before = advance_main(git, project)
    project.alice.create_pull("main", "feature", title="Spell it out")
    approve(project)
    result = project.bob.get_pull(1).merge(
        merge_method="squash", commit_title="Spell out two (#1)", commit_message="Squashed."
    )
    after = tip(git, project)
    assert result.sha == after
    assert parents(git, project, after) == [before]
    assert show(git, project, after, "app.py") == APP.replace("line 2\n", "line two\n")
    assert show(git, project, after, "new.txt") == "fresh\n"
    assert show(git, project, after, "other.txt") == "other\n"
    message = git.run("log", "-1", "--format=%B", after, cwd=project.bare).stdout
    assert message.strip() == "Spell out two (#1)\n\nSquashed."


def test_rebase_replays_the_commits_in_a_line(git, project):
    before = advance_main(git, project)
    project.alice.create_pull("main", "feature", title="Spell it out")
    approve(project)
    result = project.bob.get_pull(1).merge(merge_method="rebase")
    after = tip(git, project)
    assert result.sha == after
    replayed = git.run("rev-list", "--parents", f"{before}..{after}", cwd=project.bare).stdout
    lines = [line.split() for line in replayed.splitlines()]
    assert len(lines) == 2 and all(len(line) == 2 for line in lines)  # one parent each
    assert lines[1][1] == before and lines[0][1] == lines[1][0]
    subjects = git.run("log", "--format=%s", f"{before}..{after}", cwd=project.bare).stdout
    assert subjects.split("\n")[:2] == ["Add new.txt", "Spell out two"]


def test_a_stale_head_or_a_conflict_merges_nothing(git, project, api):
    project.alice.create_pull("main", "feature", title="Spell it out")
    approve(project)
    pull = project.bob.get_pull(1)
    before = tip(git, project)
    error = rejected(lambda: pull.merge(merge_method="merge", sha=project.feature[0]), 409)
    assert error.data["message"] == "Head branch was modified. Review and try the merge again."
    assert tip(git, project) == before
    assert project.alice.get_pull(1).state == "open"

    # A reader may not merge at all.
    rejected(lambda: project.carol.get_pull(1).merge(), 403)
    bad = api("PUT", "/repos/alice/project/pulls/1/merge", project.tokens["bob"], json={
        "merge_method": "octopus"})  # fmt: skip
    assert bad.status_code == 422

    git.commit(project.work, {"app.py": APP.replace("line 2\n", "line deux\n")}, "Deux")
    git.run("push", "-q", project.hosted.push_url, "main", cwd=project.work)
    moved = tip(git, project)
    assert project.carol.get_pull(1).mergeable is False
    assert project.carol.get_pull(1).mergeable_state == "dirty"
    error = rejected(lambda: pull.merge(merge_method="squash"), 405)
    assert error.data["message"].startswith("Pull Request is not mergeable")
    assert "app.py" in error.data["message"]
    assert tip(git, project) == moved
    assert not project.alice.get_pull(1).is_merged()


def test_an_uploaded_change_is_a_pull_with_its_own_head_ref(git, project, live_server, tmp_path):
    clone = tmp_path / "carol"
    carol_url = authed(project.hosted.url, "carol", project.tokens["carol"])
    git.run("clone", "-q", carol_url, str(clone))
    git.install_change_id_hook(clone)
    sha = git.commit(clone, {"README.md": "# better\n"}, "Better README\n\nLonger story.")
    git.run("push", "-q", carol_url, "HEAD:refs/for/main", cwd=clone)
    pull = project.alice.get_pull(1)
    assert (pull.title, pull.body, pull.user.login) == ("Better README", "Longer story.", "carol")
    assert (pull.head.ref, pull.head.sha, pull.head.repo.full_name) == (
        "pull/1/head",
        sha,
        "alice/project",
    )
    assert [f.filename for f in pull.get_files()] == ["README.md"]
