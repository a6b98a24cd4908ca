"""Required status checks of a protected branch, as GitHub clients set them: PyGithub's
get/edit/remove_required_status_checks and the contexts endpoints; a pull request does not
merge until its required checks pass, and with `strict` not until it is up to date with the
branch. Real git, a live server; bad input answers 422 and changes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from github import GithubException

from forge.accounts import users as accounts
from forge.repos import repositories as repos

CHECKS = "/repos/alice/project/branches/main/protection/required_status_checks"


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, github):
    """alice's repository: `feature` one commit ahead of where main was, and main one commit
    past that; bob writes, maya maintains (her approval is a +2)."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"app.py": "x = 1\n"})
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    git.commit(work, {"feature.py": "y = 2\n"}, "Add feature")
    git.run("checkout", "-q", "main", cwd=work)
    git.commit(work, {"app.py": "x = 10\n"}, "Main moves on")
    git.run("push", "-q", repo.push_url, "main", "feature", cwd=work)
    for name in ("bob", "maya"):
        make_user(name)
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, owner, "bob", "write")
        repos.set_collaborator(session, found, owner, "maya", "maintain")
    return SimpleNamespace(
        hosted=repo,
        work=work,
        alice=github(repo.token).get_repo("alice/project"),
        bob=github(make_token("bob")).get_repo("alice/project"),
        maya=github(make_token("maya")).get_repo("alice/project"),
    )


def rejected(call, status: int) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()
    assert caught.value.status == status, caught.value.data
    return caught.value


def test_required_checks_and_their_contexts_through_the_api(project, api):
    main = project.alice.get_branch("main")
    main.edit_protection(contexts=["ci/test"])
    checks = main.get_required_status_checks()
    assert (checks.strict, checks.contexts) == (False, ["ci/test"])
    main.edit_required_status_checks(strict=True, contexts=["ci/test", "lint"])
    checks = project.alice.get_branch("main").get_required_status_checks()
    assert (checks.strict, checks.contexts) == (True, ["ci/test", "lint"])

    token = project.hosted.token
    added = api("POST", CHECKS + "/contexts", token, json={"contexts": ["docs", "lint"]})
    assert added.status_code == 200 and added.json() == ["ci/test", "lint", "docs"]
    removed = api("DELETE", CHECKS + "/contexts", token, json=["lint"])
    assert removed.json() == ["ci/test", "docs"]
    replaced = api("PUT", CHECKS + "/contexts", token, json=["build"])
    assert replaced.json() == ["build"]
    assert api("GET", CHECKS + "/contexts", token).json() == ["build"]
    # The branch's protection shows the same.
    shown = project.alice.get_branch("main").get_protection().required_status_checks
    assert (shown.strict, shown.contexts) == (True, ["build"])

    # Bad input changes nothing; a writer may not change protection.
    bad = api("PUT", CHECKS + "/contexts", token, json=[""])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "contexts"
    assert api("PATCH", CHECKS, token, json={"strict": "yes"}).status_code == 422
    rejected(lambda: project.bob.get_branch("main").edit_required_status_checks(strict=False), 403)
    assert api("GET", CHECKS + "/contexts", token).json() == ["build"]

    main.remove_required_status_checks()
    assert api("GET", CHECKS, token).status_code == 404
    assert api("POST", CHECKS + "/contexts", token, json=["x"]).status_code == 404
    # The rest of the protection stays.
    assert project.alice.get_branch("main").protected
    assert api("GET", "/repos/alice/project/branches/feature/protection/required_status_checks",
               token).status_code == 404  # fmt: skip


def test_a_pull_merges_only_once_its_checks_pass_and_it_is_up_to_date(project, api, git):
    main = project.alice.get_branch("main")
    main.edit_protection(contexts=["ci/test"], enforce_admins=True)
    main.edit_required_status_checks(strict=True)
    pull = project.bob.create_pull("main", "feature", title="Add feature")
    project.maya.get_pull(pull.number).create_review(event="APPROVE")

    def unmet() -> list[str]:
        answer = api("GET", f"/repos/alice/project/pulls/{pull.number}/votes", project.hosted.token)
        return answer.json()["submit"]["unmet"]

    assert any(u.startswith("Verified:") for u in unmet())
    refused = rejected(lambda: project.bob.get_pull(pull.number).merge(), 405)
    assert "ci/test" in refused.data["message"]

    project.bob.get_commit(pull.head.sha).create_status("success", context="ci/test")
    # The check passed, but main moved on since feature left it: not up to date.
    assert [u.split(":")[0] for u in unmet()] == ["Up to date"]
    refused = rejected(lambda: project.bob.get_pull(pull.number).merge(), 405)
    assert "main has moved on" in refused.data["message"]
    assert project.alice.get_branch("main").commit.sha != pull.head.sha

    # Bring feature up to date with main, let the check pass again, and it merges.
    git.run("checkout", "-q", "feature", cwd=project.work)
    git.run("merge", "-q", "--no-edit", "main", cwd=project.work)
    git.run("push", "-q", project.hosted.push_url, "feature", cwd=project.work)
    head = project.bob.get_pull(pull.number).head.sha
    project.bob.get_commit(head).create_status("success", context="ci/test")
    if unmet():  # a new patch set that is not a trivial rebase asks for a fresh approval
        project.maya.get_pull(pull.number).create_review(event="APPROVE")
    assert unmet() == []
    merged = project.bob.get_pull(pull.number).merge()
    assert merged.merged
