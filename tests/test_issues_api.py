"""Issues through GitHub's REST API as PyGithub and github3.py call it, against a live server:
issues share their numbers with change requests, carry labels, a milestone and assignees,
close with a reason, lock, take comments (writers only once locked) and reactions, and leave
events and a timeline; a private repository's issues do not exist for outsiders."""

from __future__ import annotations

import github3
import pytest
from github import GithubException

from forge.accounts import users as accounts
from forge.repos import repositories as repos


@pytest.fixture
def project(hosted_repo, git, tmp_path, make_user, database):
    """alice/project with main and a topic branch pushed; bob may write, carol only reads."""
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    git.commit(work, {"a.txt": "a\n"}, "add a")
    git.run("push", "-q", info.push_url, "topic", cwd=work)
    make_user("bob")
    make_user("carol")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        repo = repos.get_repository(session, "alice", "project", alice)
        repos.set_collaborator(session, repo, alice, "bob", "write")
    info.work = work
    return info


def test_an_issue_lives_its_life_through_pygithub(project, github, make_token):
    alice = github(project.token)
    repo = alice.get_repo("alice/project")
    pull = repo.create_pull(title="Add a", body="", base="main", head="topic")
    bug = repo.create_label("bug", "d73a4a", "Something isn't working")
    docs = repo.create_label("docs", "#0075CA")
    assert (docs.name, docs.color) == ("docs", "0075ca")
    v1 = repo.create_milestone("v1", description="First cut")

    issue = repo.create_issue(
        "Crash on start", body="It crashes, see #1", labels=[bug], milestone=v1, assignees=["bob"]
    )
    # One number sequence for changes and issues, as GitHub's pulls and issues.
    assert (pull.number, issue.number) == (1, 2)
    assert [lb.name for lb in issue.labels] == ["bug"]
    assert issue.milestone.title == "v1" and issue.milestone.open_issues == 1
    assert [a.login for a in issue.assignees] == ["bob"]
    assert issue.pull_request is None

    carol = github(make_token("carol")).get_repo("alice/project")
    other = carol.create_issue("Typo in README", body="@alice look", labels=["bug"])
    # Someone who may not triage opens an issue, but its labels are not theirs to set.
    assert other.number == 3 and other.labels == []
    # The @mention reached alice's inbox, as news of an issue.
    threads = alice.get_user().get_notifications()
    assert [(t.subject.title, t.subject.type) for t in threads] == [("Typo in README", "Issue")]

    # GitHub's /issues lists pull requests too; issue.pull_request tells them apart.
    listed = {i.number: i.pull_request is not None for i in repo.get_issues(state="open")}
    assert listed == {1: True, 2: False, 3: False}
    assert [i.number for i in repo.get_issues(labels=[bug])] == [2]
    assert [i.number for i in repo.get_issues(milestone=v1)] == [2]
    assert [i.number for i in repo.get_issues(assignee="bob")] == [2]
    assert [i.number for i in repo.get_issues(creator="carol")] == [3]
    assert repo.get_issue(1).pull_request is not None

    issue.edit(title="Crash on start-up", body="It crashes at once, see #1")
    issue.add_to_labels(docs)
    issue.remove_from_labels(bug)
    assert [lb.name for lb in repo.get_issue(2).labels] == ["docs"]

    comment = issue.create_comment("Reproduced on main")
    assert [c.body for c in issue.get_comments()] == ["Reproduced on main"]
    comment.edit("Reproduced on main and on topic")
    assert repo.get_issue(2).get_comments()[0].body == "Reproduced on main and on topic"
    comment.create_reaction("heart")
    issue.create_reaction("+1")
    assert [r.content for r in issue.get_reactions()] == ["+1"]
    assert repo.get_issue(2).reactions["+1"] == 1

    issue.lock("too heated")
    assert repo.get_issue(2).locked and repo.get_issue(2).active_lock_reason == "too heated"
    with pytest.raises(GithubException) as refused:
        carol.get_issue(2).create_comment("me too")
    assert refused.value.status == 403
    github(make_token("bob")).get_repo("alice/project").get_issue(2).create_comment("on it")
    issue.unlock()

    issue.edit(state="closed", state_reason="not_planned")
    closed = repo.get_issue(2)
    assert (closed.state, closed.state_reason, closed.closed_by.login) == (
        "closed",
        "not_planned",
        "alice",
    )
    assert [i.number for i in repo.get_issues(state="closed")] == [2]
    closed.edit(state="open")
    assert repo.get_issue(2).state_reason == "reopened"

    kinds = [e.event for e in issue.get_events()]
    for expected in ("labeled", "milestoned", "assigned", "renamed", "unlabeled", "locked",
                     "unlocked", "closed", "reopened"):  # fmt: skip
        assert expected in kinds
    timeline = [e.event for e in issue.get_timeline()]
    assert "commented" in timeline and "closed" in timeline


def test_labels_and_milestones_are_writers_and_bad_input_changes_nothing(
    project, github, make_token, api
):
    repo = github(project.token).get_repo("alice/project")
    repo.create_label("bug", "d73a4a")
    with pytest.raises(GithubException) as clash:
        repo.create_label("BUG", "000000")
    assert clash.value.status == 422
    with pytest.raises(GithubException) as bad_color:
        repo.create_label("ui", "blue")
    assert bad_color.value.status == 422 and "color" in str(bad_color.value.data)
    label = repo.get_label("bug")
    label.edit("defect", "ff0000", "Broken")
    assert [(lb.name, lb.color) for lb in repo.get_labels()] == [("defect", "ff0000")]

    carol = github(make_token("carol")).get_repo("alice/project")
    with pytest.raises(GithubException) as forbidden:
        carol.create_label("mine", "ffffff")
    assert forbidden.value.status == 403

    milestone = repo.create_milestone("v1")
    milestone.edit("v1.0", state="closed")
    assert [m.title for m in repo.get_milestones(state="closed")] == ["v1.0"]
    assert list(repo.get_milestones(state="open")) == []
    with pytest.raises(GithubException) as unknown:
        repo.create_issue("x", milestone=repo.get_milestone(1), assignees=["carol"])
    assert unknown.value.status == 422  # carol may not write: she cannot be assigned
    assert [i.number for i in repo.get_issues(state="all")] == []
    assert [u.login for u in repo.get_assignees()] == ["alice", "bob"]


def test_a_private_repositorys_issues_do_not_exist_for_outsiders(
    hosted_repo, github, make_user, make_token, api
):
    info = hosted_repo(name="secret", private=True)
    repo = github(info.token).get_repo("alice/secret")
    issue = repo.create_issue("Hidden bug")
    make_user("mallory")
    token = make_token("mallory")
    one = f"/repos/alice/secret/issues/{issue.number}"
    for path in (
        one,
        one + "/comments",
        "/repos/alice/secret/issues",
        "/repos/alice/secret/labels",
    ):
        assert api("GET", path, token).status_code == 404
        assert api("GET", path).status_code == 404
    answer = api("POST", "/repos/alice/secret/issues", token, json={"title": "x"})
    assert answer.status_code == 404


def test_github3_files_comments_and_labels_issues(project, live_server):
    client = github3.GitHubEnterprise(live_server, token=project.token)
    repository = client.repository("alice", "project")
    repository.create_label("question", "d876e3")
    milestone = repository.create_milestone("v2")
    issue = repository.create_issue(
        "How do I configure it?", body="Asking", labels=["question"], milestone=milestone.number
    )
    assert issue.number == 1 and issue.milestone.title == "v2"
    issue.create_comment("Read the docs")
    assert [c.body for c in issue.comments()] == ["Read the docs"]
    assert [i.number for i in repository.issues(state="open", labels="question")] == [1]
    issue.close()
    assert repository.issue(1).state == "closed"
    issue.reopen()
    assert [lb.name for lb in repository.issue(1).labels()] == ["question"]
