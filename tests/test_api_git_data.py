"""Writing to a repository without git, as GitHub clients do: files created, replaced and
deleted as commits on a branch (PUT and DELETE of contents), and blobs, trees and commits
made through the git data API, then a ref pointed at them. Driven by PyGithub against a live
server; what was written is checked with the real git. A write moves the branch as a push
does: its protection refuses it, and it is recorded as a push."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from github import GithubException, InputGitAuthor, InputGitTreeElement
from sqlalchemy import select
from support.webhooks import drain, loopback_settings, make_hook

from forge.accounts import users as accounts
from forge.models import PushEvent
from forge.repos import repositories as repos


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)  # a webhook receiver on loopback hears the writes


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, settings, github):
    """alice's repository with main (README.md, src/app.py) and a `feature` branch; bob
    writes to it, carol only reads it."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n", "src/app.py": "x = 1\n"})
    git.run("branch", "feature", cwd=work)
    git.run("push", "-q", repo.push_url, "main", "feature", cwd=work)
    make_user("bob")
    make_user("carol")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, owner, "bob", "write")
    return SimpleNamespace(
        hosted=repo,
        bare=settings.repos_dir / "alice" / "project.git",
        alice=github(repo.token).get_repo("alice/project"),
        bob=github(make_token("bob")).get_repo("alice/project"),
        carol=github(make_token("carol")).get_repo("alice/project"),
    )


def tip(git, project, branch="main") -> str:
    return git.run("rev-parse", f"refs/heads/{branch}", cwd=project.bare).stdout.strip()


def show(git, project, spec: str) -> str:
    return git.run("show", spec, cwd=project.bare).stdout


def rejected(call, status: int) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()
    assert caught.value.status == status, caught.value.data
    return caught.value


def pushes(database, ref: str) -> list[tuple[str, str, str]]:
    with database.session() as session:
        rows = session.scalars(select(PushEvent).where(PushEvent.ref == ref).order_by(PushEvent.id))
        return [(row.before, row.after, row.via) for row in rows]


# --- files written as commits ---------------------------------------------------------------


def test_create_update_and_delete_a_file_as_commits_on_the_branch(git, project, database):
    before = tip(git, project)
    created = project.bob.create_file("docs/guide.md", "Add a guide", "# Guide\n")
    commit = created["commit"]
    assert tip(git, project) == commit.sha
    assert git.run("rev-parse", f"{commit.sha}^", cwd=project.bare).stdout.strip() == before
    assert show(git, project, f"{commit.sha}:docs/guide.md") == "# Guide\n"
    assert show(git, project, f"{commit.sha}:src/app.py") == "x = 1\n"  # the rest kept
    assert (
        git.run("log", "-1", "--format=%s|%an", "main", cwd=project.bare).stdout
        == "Add a guide|bob\n"
    )
    assert created["content"].path == "docs/guide.md"
    # As a push: recorded with who and how, before and after.
    assert pushes(database, "refs/heads/main")[-1] == (before, commit.sha, "api")

    guide = project.bob.get_contents("docs/guide.md")
    updated = project.bob.update_file(
        "docs/guide.md", "Say more", "# Guide\n\nMore.\n", guide.sha, branch="main"
    )
    assert show(git, project, "main:docs/guide.md") == "# Guide\n\nMore.\n"
    assert updated["commit"].parents[0].sha == commit.sha

    deleted = project.bob.delete_file(
        "docs/guide.md", "Drop the guide", updated["content"].sha, branch="main"
    )
    assert deleted["commit"].sha == tip(git, project)
    listed = git.run("ls-tree", "-r", "--name-only", "main", cwd=project.bare).stdout.split()
    assert listed == ["README.md", "src/app.py"]


def test_a_write_to_another_branch_with_a_named_author(git, project):
    author = InputGitAuthor("Robin Writer", "robin@example.org")
    project.alice.create_file(
        "notes.txt", "Notes", b"\x00binary\xff", branch="feature", author=author
    )
    assert tip(git, project, "main") != tip(git, project, "feature")
    log = git.run("log", "-1", "--format=%an <%ae>|%cn", "feature", cwd=project.bare).stdout
    assert log.strip().startswith("Robin Writer <robin@example.org>|")
    # The bytes as sent, not text: a NUL and a byte that is no UTF-8 are kept.
    size = git.run("cat-file", "-s", "feature:notes.txt", cwd=project.bare).stdout
    assert int(size) == len(b"\x00binary\xff")


def test_stale_or_missing_sha_and_bad_input_change_nothing(git, project, api):
    before = tip(git, project)
    app = project.alice.get_contents("src/app.py")
    # Replacing a file without saying which version was read: 422, naming the field.
    missing = rejected(lambda: project.alice.create_file("src/app.py", "Again", "y = 2\n"), 422)
    assert missing.data["errors"][0]["field"] == "sha"
    # Someone changed it meanwhile: the old sha is stale.
    project.alice.update_file("src/app.py", "Two", "x = 2\n", app.sha)
    after_first = tip(git, project)
    stale = rejected(
        lambda: project.alice.update_file("src/app.py", "Three", "x = 3\n", app.sha), 409
    )
    assert "does not match" in stale.data["message"]
    rejected(lambda: project.alice.delete_file("nothing/here.txt", "Gone", app.sha), 404)
    rejected(lambda: project.alice.create_file("x.txt", "x", "x", branch="no-such"), 404)
    rejected(lambda: project.carol.create_file("c.txt", "Carol's", "c"), 403)
    token = project.hosted.token
    not_base64 = api(
        "PUT", "/repos/alice/project/contents/y.txt", token,
        json={"message": "y", "content": "not base64!"},
    )  # fmt: skip
    assert not_base64.status_code == 422 and not_base64.json()["errors"][0]["field"] == "content"
    no_message = api(
        "PUT", "/repos/alice/project/contents/y.txt", token,
        json={"content": base64.b64encode(b"y").decode()},
    )  # fmt: skip
    assert no_message.status_code == 422 and "message" in no_message.json()["message"]
    dotgit = api(
        "PUT", "/repos/alice/project/contents/.git/config", token,
        json={"message": "m", "content": base64.b64encode(b"y").decode()},
    )  # fmt: skip
    assert dotgit.status_code == 422
    assert tip(git, project) == after_first != before


def test_a_protected_branch_refuses_a_write_as_it_refuses_a_push(git, project, database):
    project.alice.get_branch("main").edit_protection(required_approving_review_count=1)
    before = tip(git, project)
    refused = rejected(lambda: project.bob.create_file("b.txt", "Direct", "b\n"), 409)
    assert "reviewed change request" in refused.data["message"]
    assert tip(git, project) == before
    assert all(
        after != before or via != "api" for _b, after, via in pushes(database, "refs/heads/main")
    )
    # Another branch is open to the same writer.
    project.bob.create_file("b.txt", "On feature", "b\n", branch="feature")
    assert show(git, project, "feature:b.txt") == "b\n"


# --- the git data API -----------------------------------------------------------------------


def test_build_a_commit_from_blobs_and_trees_and_point_a_branch_at_it(git, project):
    main = project.alice.get_branch("main").commit
    base_tree = project.alice.get_git_tree(main.sha)
    blob = project.alice.create_git_blob(base64.b64encode(b"print(2)\n").decode(), "base64")
    assert show(git, project, blob.sha) == "print(2)\n"
    tree = project.alice.create_git_tree(
        [
            InputGitTreeElement("src/extra.py", "100644", "blob", sha=blob.sha),
            InputGitTreeElement("notes.md", "100644", "blob", content="Notes\n"),
            InputGitTreeElement("README.md", "100644", "blob", sha=None),
        ],
        base_tree,
    )
    paths = sorted(e.path for e in tree.tree)
    assert paths == ["notes.md", "src"]
    parent = project.alice.get_git_commit(main.sha)
    made = project.alice.create_git_commit(
        "Built by hand", tree, [parent], author=InputGitAuthor("Hand", "hand@example.org")
    )
    assert (made.tree.sha, made.parents[0].sha, made.author.name) == (tree.sha, main.sha, "Hand")
    project.alice.create_git_ref("refs/heads/built", made.sha)
    assert tip(git, project, "built") == made.sha
    listed = git.run("ls-tree", "-r", "--name-only", "built", cwd=project.bare).stdout.split()
    assert listed == ["notes.md", "src/app.py", "src/extra.py"]
    git.run("fsck", "--no-dangling", cwd=project.bare)

    read_back = project.alice.get_git_commit(made.sha)
    assert (read_back.message, read_back.committer.name) == ("Built by hand", "alice")
    recursive = project.alice.get_git_tree(made.sha, recursive=True)
    assert [(e.path, e.type) for e in recursive.tree] == [
        ("notes.md", "blob"),
        ("src", "tree"),
        ("src/app.py", "blob"),
        ("src/extra.py", "blob"),
    ]
    assert [e.size for e in recursive.tree if e.path == "src/extra.py"] == [len(b"print(2)\n")]
    assert (
        project.alice.get_git_blob(blob.sha).content.replace("\n", "")
        == base64.b64encode(b"print(2)\n").decode()
    )


def test_matching_refs_by_prefix(project):
    project.alice.create_git_ref("refs/heads/feat-a", project.alice.get_branch("main").commit.sha)
    names = [r.ref for r in project.alice.get_git_matching_refs("heads/feat")]
    assert names == ["refs/heads/feat-a", "refs/heads/feature"]
    assert list(project.alice.get_git_matching_refs("heads/nothing")) == []
    assert [r.ref for r in project.carol.get_git_matching_refs("tags")] == []


def test_git_data_refuses_bad_objects_and_readers(project, api):
    main = project.alice.get_branch("main").commit.sha
    token = project.hosted.token
    blob_sha = project.alice.get_contents("README.md").sha
    cases = [
        ("POST", "/git/commits", {"message": "m", "tree": "0" * 40}, "tree"),
        ("POST", "/git/commits", {"message": "m", "tree": main}, "tree"),  # a commit, not a tree
        ("POST", "/git/commits", {"tree": project.alice.get_git_tree(main).sha}, "message"),
        ("POST", "/git/trees", {"tree": [{"path": "a", "mode": "100644", "sha": "zz"}]}, "sha"),
        ("POST", "/git/trees", {"tree": [{"path": "a", "mode": "777", "sha": blob_sha}]}, "mode"),
        ("POST", "/git/trees", {"tree": [{"path": "../a", "mode": "100644", "content": ""}]},
         "path"),
        ("POST", "/git/blobs", {"content": "@@", "encoding": "base64"}, "content"),
    ]  # fmt: skip
    for method, path, body, field in cases:
        answer = api(method, f"/repos/alice/project{path}", token, json=body)
        assert answer.status_code == 422, (path, body, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (path, body, answer.json())
    assert api("GET", f"/repos/alice/project/git/commits/{blob_sha}", token).status_code == 404
    assert api("GET", f"/repos/alice/project/git/blobs/{main}", token).status_code == 404
    carol = project.carol
    rejected(lambda: carol.create_git_blob("x", "utf-8"), 403)


def test_a_write_sends_the_push_webhook_a_git_push_sends(project, github, receiver, settings):
    make_hook(github, project.hosted, receiver, settings, events=["push"])
    before = project.alice.get_branch("main").commit.sha
    written = project.alice.create_file("hello.txt", "Say hello", "hello\n")
    drain(settings, lambda: receiver.events("push"))
    [push] = [r.payload() for r in receiver.events("push")]
    assert (push["ref"], push["before"], push["after"]) == (
        "refs/heads/main",
        before,
        written["commit"].sha,
    )
    assert push["head_commit"]["message"].strip() == "Say hello"
    assert push["pusher"]["name"] == "alice"


def test_the_first_file_of_an_empty_repository(git, hosted_repo, github, tmp_path):
    empty = hosted_repo(name="empty")
    repo = github(empty.token).get_repo("alice/empty")
    created = repo.create_file("README.md", "Start", "# empty no more\n")
    clone = tmp_path / "clone"
    git.run("clone", "-q", empty.url, str(clone))
    assert (clone / "README.md").read_text() == "# empty no more\n"
    assert git.head(clone) == created["commit"].sha
    assert git.run("rev-list", "--count", "HEAD", cwd=clone).stdout.strip() == "1"
    assert repo.get_branch("main").commit.sha == created["commit"].sha
