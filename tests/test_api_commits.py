"""A repository's history and files through the GitHub-shaped API, driven by PyGithub (and
github3.py where it reaches) against a live server: commits filtered and paged, one commit,
compare, README, languages, contributors, e-mail addresses, the git data API, and writing
files as commits. Diffs and patches come back for GitHub's media types and `git apply` /
`git am` take them as they take git's own. Bad requests answer clearly and change nothing."""

from __future__ import annotations

from types import SimpleNamespace

import github3
import pytest
from github import GithubException
from support.github_schema import github_response_errors

from forge.accounts import users as accounts
from forge.repos import repositories as repos

APP = "def main():\n    return 1\n"


def commit_as(git, work, files: dict[str, str], message: str, who: str, when: str) -> str:
    """A commit by `who` (name <email>) dated `when` (author and committer alike)."""
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(content)
    git.run("add", "-A", cwd=work)
    name, email = who.split(" <")
    env_before = dict(git.env)
    git.env.update(
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email.rstrip(">"),
        GIT_AUTHOR_DATE=when,
        GIT_COMMITTER_DATE=when,
    )
    try:
        git.run("commit", "-q", "-m", message, cwd=work)
    finally:
        git.env.clear()
        git.env.update(env_before)
    return git.head(work)


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, settings, github):
    """alice's public repository. main: four commits (two by bob, on src/app.py; one by a
    stranger without an account, on docs), dated a day apart in May 2024; `feature` two
    commits ahead of main's third, and main one commit past where feature left it."""
    repo = hosted_repo()
    make_user("bob", email="bob@example.org")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        repos.set_collaborator(
            session, repos.find_repository(session, "alice", "project"), owner, "bob", "write"
        )
        alice_email = owner.email
    alice = f"Alice <{alice_email}>"
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    first = commit_as(
        git, work, {"README.md": "# project\n\nHello *world*.\n", "src/app.py": APP},
        "First", alice, "2024-05-01T10:00:00Z",
    )  # fmt: skip
    second = commit_as(
        git, work, {"src/app.py": APP + "\n\ndef helper():\n    return 2\n"},
        "Add a helper", "Bob <bob@example.org>", "2024-05-02T10:00:00Z",
    )  # fmt: skip
    third = commit_as(
        git, work, {"docs/guide.md": "# Guide\n", "web/site.js": "console.log(1);\n"},
        "Write a guide", "Sam <sam@elsewhere.example>", "2024-05-03T10:00:00Z",
    )  # fmt: skip
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    feature_one = commit_as(
        git, work, {"src/app.py": APP.replace("1", "10")}, "Return ten", alice,
        "2024-05-04T10:00:00Z",
    )  # fmt: skip
    feature_two = commit_as(
        git, work, {"src/extra.py": "X = 1\n"}, "Add extra", alice, "2024-05-05T10:00:00Z"
    )
    git.run("checkout", "-q", "main", cwd=work)
    fourth = commit_as(
        git, work, {"src/app.py": APP + "\n\ndef helper():\n    return 3\n"},
        "Helper returns three", "Bob <bob@example.org>", "2024-05-06T10:00:00Z",
    )  # fmt: skip
    git.run("push", "-q", repo.push_url, "main", "feature", cwd=work)
    bob_token = make_token("bob")
    return SimpleNamespace(
        hosted=repo,
        work=work,
        bare=settings.repos_dir / "alice" / "project.git",
        main=[first, second, third, fourth],
        feature=[feature_one, feature_two],
        gh=github(repo.token),
        alice=github(repo.token).get_repo("alice/project"),
        bob=github(bob_token).get_repo("alice/project"),
        bob_token=bob_token,
        anonymous=github(None).get_repo("alice/project"),
    )


def tip(git, project, branch="main") -> str:
    return git.run("rev-parse", f"refs/heads/{branch}", cwd=project.bare).stdout.strip()


def rejected(call, status: int) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()
    assert caught.value.status == status, caught.value.data
    return caught.value


# --- listing commits ------------------------------------------------------------------------


def test_commits_list_newest_first_filtered_by_branch_path_author_and_dates(project):
    main = project.main
    assert [c.sha for c in project.anonymous.get_commits()] == main[::-1]
    assert [c.sha for c in project.alice.get_commits(sha="feature")] == (
        project.feature[::-1] + main[:3][::-1]
    )
    assert [c.sha for c in project.alice.get_commits(path="src/app.py")] == [
        main[3],
        main[1],
        main[0],
    ]
    by_bob = project.alice.get_commits(author="bob")
    assert [c.sha for c in by_bob] == [main[3], main[1]]
    assert by_bob[0].author.login == "bob"  # the account the commit's email belongs to
    by_email = project.alice.get_commits(author="sam@elsewhere.example")
    assert [(c.sha, c.author) for c in by_email] == [(main[2], None)]
    assert [c.sha for c in project.alice.get_commits(author="nobody-here")] == []
    from datetime import UTC, datetime

    window = project.alice.get_commits(
        since=datetime(2024, 5, 2, tzinfo=UTC), until=datetime(2024, 5, 3, 12, tzinfo=UTC)
    )
    assert [c.sha for c in window] == [main[2], main[1]]
    assert window[0].commit.message == "Write a guide"


def test_commits_page_through_link_headers(project, api):
    first = api("GET", "/repos/alice/project/commits?per_page=3", project.hosted.token)
    assert [c["sha"] for c in first.json()] == project.main[::-1][:3]
    assert 'rel="next"' in first.headers["Link"]
    second = api("GET", "/repos/alice/project/commits?per_page=3&page=2", project.hosted.token)
    assert [c["sha"] for c in second.json()] == [project.main[0]]
    assert 'rel="next"' not in second.headers.get("Link", "")
    # Filtered lists page the same way.
    filtered = api(
        "GET", "/repos/alice/project/commits?author=bob&per_page=1&page=2", project.hosted.token
    )
    assert [c["sha"] for c in filtered.json()] == [project.main[1]]


def test_bad_commit_queries_answer_clearly(project, api):
    token = project.hosted.token
    missing = api("GET", "/repos/alice/project/commits?sha=no-such-branch", token)
    assert missing.status_code == 404
    bad_date = api("GET", "/repos/alice/project/commits?since=yesterday", token)
    assert bad_date.status_code == 422
    assert "ISO 8601" in bad_date.json()["message"]
    assert bad_date.json()["errors"][0]["field"] == "since"


# --- one commit, compare, and their diffs and patches ---------------------------------------


def test_a_commit_and_its_diff_and_patch_apply_as_gits_own(project, api, git, tmp_path):
    sha = project.main[3]
    commit = project.alice.get_commit(sha)
    assert commit.files[0].filename == "src/app.py"
    assert (commit.stats.additions, commit.stats.deletions) == (1, 1)
    diff = api(
        "GET", f"/repos/alice/project/commits/{sha}", project.hosted.token,
        headers={"Accept": "application/vnd.github.diff"},
    )  # fmt: skip
    assert diff.status_code == 200
    assert diff.headers["Content-Type"].startswith("application/vnd.github.diff")
    assert diff.text.startswith("diff --git a/src/app.py b/src/app.py")
    patch = api(
        "GET", f"/repos/alice/project/commits/{sha}", project.hosted.token,
        headers={"Accept": "application/vnd.github.v3.patch"},
    )  # fmt: skip
    assert patch.text.startswith(f"From {sha} ")
    assert "Subject: [PATCH] Helper returns three" in patch.text
    # `git am` on the parent makes the same tree as the commit itself.
    clone = tmp_path / "clone"
    git.run("clone", "-q", project.hosted.url, str(clone))
    git.run("checkout", "-q", project.main[2], cwd=clone)
    git.run("am", "-q", input=patch.text, cwd=clone)
    assert git.head(clone, "HEAD^{tree}") == git.head(clone, f"{sha}^{{tree}}")


def test_compare_two_branches_with_pygithub_and_as_a_diff(project, api, git, tmp_path):
    found = project.alice.compare("main", "feature")
    assert (found.status, found.ahead_by, found.behind_by, found.total_commits) == (
        "diverged",
        2,
        1,
        2,
    )
    assert [c.sha for c in found.commits] == project.feature  # oldest first
    assert found.merge_base_commit.sha == project.main[2]
    assert found.base_commit.sha == project.main[3]
    assert sorted(f.filename for f in found.files) == ["src/app.py", "src/extra.py"]
    same = project.alice.compare("main", "main")
    assert (same.status, same.ahead_by, same.files) == ("identical", 0, [])
    behind = project.alice.compare(f"{project.main[3]}", project.main[2])
    assert (behind.status, behind.behind_by) == ("behind", 1)

    diff = api(
        "GET", "/repos/alice/project/compare/main...feature", project.hosted.token,
        headers={"Accept": "application/vnd.github.diff"},
    )  # fmt: skip
    clone = tmp_path / "clone"
    git.run("clone", "-q", project.hosted.url, str(clone))
    git.run("checkout", "-q", project.main[2], cwd=clone)
    git.run("apply", "--index", input=diff.text, cwd=clone)
    git.run("commit", "-q", "-m", "applied", cwd=clone)
    assert git.head(clone, "HEAD^{tree}") == git.head(clone, "origin/feature^{tree}")

    rejected(lambda: project.alice.compare("main", "nowhere"), 404)


# --- README, raw files and languages --------------------------------------------------------


def test_readme_as_json_raw_and_html(project, api):
    readme = project.anonymous.get_readme()
    assert readme.path == "README.md"
    assert readme.decoded_content == b"# project\n\nHello *world*.\n"
    html = api(
        "GET", "/repos/alice/project/readme", headers={"Accept": "application/vnd.github.html"}
    )
    assert html.headers["Content-Type"].startswith("application/vnd.github.html")
    assert "<em>world</em>" in html.text
    raw = api(
        "GET", "/repos/alice/project/contents/src/app.py?ref=feature",
        headers={"Accept": "application/vnd.github.raw"},
    )  # fmt: skip
    assert raw.content == APP.replace("1", "10").encode()


def test_readme_missing_is_404(project, api):
    assert api("GET", "/repos/alice/project/readme/src").status_code == 404


def test_languages_and_contributors(project, api):
    languages = project.anonymous.get_languages()
    languages.pop("url", None)  # PyGithub notes where it read the answer from
    assert languages == {
        "Python": len((APP + "\n\ndef helper():\n    return 3\n").encode()),
        "JavaScript": len(b"console.log(1);\n"),
    }
    people = project.anonymous.get_contributors()
    assert [(p.login, p.contributions) for p in people] == [("bob", 2), ("alice", 1)]
    # With anon=1, an author without an account is listed by name and email, as on GitHub.
    with_anonymous = api("GET", "/repos/alice/project/contributors?anon=1").json()
    assert [p.get("login") for p in with_anonymous] == ["bob", "alice", None]
    assert with_anonymous[2] == {
        "type": "Anonymous",
        "email": "sam@elsewhere.example",
        "name": "Sam",
        "contributions": 1,
    }


def test_emails_of_the_signed_in_user(project, github, make_token):
    (email,) = project.gh.get_user().get_emails()
    # Unverified until the link mailed to it is opened (tests/test_mail.py opens one).
    assert (email.primary, email.verified) == (True, False)
    assert email.email.endswith("@example.org") or "@" in email.email
    no_scope = github(make_token("alice", scopes="repo"))
    rejected(lambda: no_scope.get_user().get_emails(), 403)


# --- the answers match GitHub's own description -----------------------------------------------


def test_answers_match_githubs_schemas(project, api):
    token = project.hosted.token
    repo = "/repos/{owner}/{repo}"
    sha = project.main[3]
    cases = [
        (repo + "/commits", "/repos/alice/project/commits"),
        (repo + "/commits/{ref}", f"/repos/alice/project/commits/{sha}"),
        (repo + "/compare/{basehead}", "/repos/alice/project/compare/main...feature"),
        (repo + "/readme", "/repos/alice/project/readme"),
        (repo + "/languages", "/repos/alice/project/languages"),
        (repo + "/contributors", "/repos/alice/project/contributors?anon=1"),
        (repo + "/git/commits/{commit_sha}", f"/repos/alice/project/git/commits/{sha}"),
        (repo + "/git/trees/{tree_sha}", f"/repos/alice/project/git/trees/{sha}?recursive=1"),
        (repo + "/git/matching-refs/{ref}", "/repos/alice/project/git/matching-refs/heads"),
        ("/user/emails", "/user/emails"),
    ]
    failures = []
    for template, path in cases:
        answer = api("GET", path, token)
        assert answer.status_code == 200, (path, answer.text)
        failures += [
            f"{path}: {e}"
            for e in github_response_errors("GET", template, answer.status_code, answer.json())
        ]
    assert not failures, "\n".join(failures)


def test_github3_reads_history_readme_languages_and_contributors(project, live_server):
    client = github3.GitHubEnterprise(live_server, token=project.hosted.token)
    repository = client.repository("alice", "project")
    assert [c.sha for c in repository.commits()] == project.main[::-1]
    assert [c.sha for c in repository.commits(path="docs")] == [project.main[2]]
    comparison = repository.compare_commits("main", "feature")
    assert (comparison.ahead_by, comparison.behind_by, comparison.status) == (2, 1, "diverged")
    assert [c.sha for c in comparison.original_commits] == project.feature
    # github3.py asks for the diff and the patch with GitHub's media types.
    assert comparison.diff().startswith(b"diff --git a/src/app.py b/src/app.py")
    assert comparison.patch().startswith(f"From {project.feature[0]} ".encode())
    assert repository.readme().decoded == b"# project\n\nHello *world*.\n"
    assert dict(repository.languages())["JavaScript"] == len(b"console.log(1);\n")
    assert [(c.login, c.contributions_count) for c in repository.contributors()] == [
        ("bob", 2),
        ("alice", 1),
    ]
    assert repository.commit(project.main[3]).files[0]["filename"] == "src/app.py"
