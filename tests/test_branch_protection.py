"""Branch protection through the GitHub-shaped API, enforced on real git pushes."""

import pytest
import requests
from conftest import authed
from github import Auth, Github

from forge.accounts import users as accounts
from forge.repos import repositories as repos


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, live_server):
    """alice's repository with a pushed main, and bob as a collaborator with write."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"a.txt": "one\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    make_user("bob")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        repos.set_collaborator(
            session, repos.find_repository(session, "alice", "project"), owner, "bob", "write"
        )
    repo.work = work
    repo.bob_url = authed(repo.url, "bob", make_token("bob"))
    repo.api = f"{live_server}/api/v3/repos/alice/project"
    repo.headers = {"Authorization": f"token {repo.token}"}
    return repo


def protect(project, **rules):
    body = {
        "required_status_checks": None,
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
        **rules,
    }
    response = requests.put(
        f"{project.api}/branches/main/protection", json=body, headers=project.headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def rewrite_history(git, project):
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=project.work)
    return git.head(project.work)


def remote_main(git, project) -> str:
    for line in git.run("ls-remote", project.url, "refs/heads/main").stdout.splitlines():
        return line.split()[0]
    return ""


def test_force_push_to_protected_branch_is_refused_with_a_reason(git, project):
    protect(project)
    before = remote_main(git, project)
    rewrite_history(git, project)
    result = git.run("push", "--force", project.bob_url, "main", cwd=project.work, check=False)
    assert result.returncode != 0
    assert "remote: main is a protected branch: force-pushes are not allowed" in result.stderr
    assert remote_main(git, project) == before


def test_allowing_force_pushes_lets_them_through(git, project):
    protect(project, allow_force_pushes=True)
    rewritten = rewrite_history(git, project)
    git.run("push", "--force", project.bob_url, "main", cwd=project.work)
    assert remote_main(git, project) == rewritten


def test_admin_bypasses_protection_unless_enforce_admins(git, project):
    protect(project)
    rewritten = rewrite_history(git, project)
    result = git.run("push", "--force", project.push_url, "main", cwd=project.work)
    assert "Bypassed the protection of main as a repository admin" in result.stderr
    assert remote_main(git, project) == rewritten

    protect(project, enforce_admins=True)
    git.commit(project.work, {"b.txt": "x"}, "another")
    git.run("reset", "-q", "--hard", "HEAD~1", cwd=project.work)
    git.run("commit", "-q", "--amend", "-m", "rewritten again", cwd=project.work)
    refused = git.run("push", "--force", project.push_url, "main", cwd=project.work, check=False)
    assert refused.returncode != 0 and "force-pushes are not allowed" in refused.stderr
    assert remote_main(git, project) == rewritten


def test_protected_branch_cannot_be_deleted(git, project):
    protect(project)
    before = remote_main(git, project)
    result = git.run("push", project.bob_url, "--delete", "main", cwd=project.work, check=False)
    assert result.returncode != 0
    assert "main is a protected branch: it cannot be deleted" in result.stderr
    assert remote_main(git, project) == before


def test_required_reviews_refuse_direct_pushes(git, project):
    protect(project, required_pull_request_reviews={"required_approving_review_count": 1})
    before = remote_main(git, project)
    git.commit(project.work, {"a.txt": "two\n"}, "direct")
    result = git.run("push", project.bob_url, "main", cwd=project.work, check=False)
    assert result.returncode != 0
    assert "changes must go through a reviewed change request" in result.stderr
    assert remote_main(git, project) == before


def test_required_status_checks_gate_the_push_until_they_pass(git, project):
    protect(project, required_status_checks={"strict": False, "contexts": ["ci/test"]})
    candidate = git.commit(project.work, {"a.txt": "two\n"}, "candidate")
    refused = git.run("push", project.bob_url, "main", cwd=project.work, check=False)
    assert "required status checks have not passed" in refused.stderr
    assert "ci/test" in refused.stderr
    # Put the commit on the server under another name, report the check, then push again.
    git.run("push", project.bob_url, "HEAD:refs/heads/candidate", cwd=project.work)
    status = requests.post(
        f"{project.api}/statuses/{candidate}",
        json={"state": "success", "context": "ci/test", "description": "tests pass"},
        headers=project.headers,
        timeout=30,
    )
    assert status.status_code == 201
    git.run("push", project.bob_url, "main", cwd=project.work)
    assert remote_main(git, project) == candidate


def test_protection_api_shapes_and_errors(project, make_token):
    shown = protect(
        project,
        allow_deletions=True,
        required_status_checks={"strict": True, "contexts": ["ci/lint"]},
    )
    assert shown["allow_deletions"] == {"enabled": True}
    assert shown["allow_force_pushes"] == {"enabled": False}
    assert shown["required_status_checks"]["contexts"] == ["ci/lint"]
    got = requests.get(
        f"{project.api}/branches/main/protection", headers=project.headers, timeout=30
    )
    assert got.json() == shown

    branches = requests.get(f"{project.api}/branches", timeout=30).json()
    assert [(b["name"], b["protected"]) for b in branches] == [("main", True)]

    bob = {"Authorization": f"token {make_token('bob')}"}
    forbidden = requests.put(
        f"{project.api}/branches/main/protection",
        json={
            "required_status_checks": None,
            "enforce_admins": None,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
        headers=bob,
        timeout=30,
    )
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["message"]
    missing_keys = requests.put(
        f"{project.api}/branches/main/protection", json={}, headers=project.headers, timeout=30
    )
    assert missing_keys.status_code == 422

    assert (
        requests.delete(
            f"{project.api}/branches/main/protection", headers=project.headers, timeout=30
        ).status_code
        == 204
    )
    gone = requests.get(
        f"{project.api}/branches/main/protection", headers=project.headers, timeout=30
    )
    assert gone.status_code == 404 and gone.json()["message"] == "Not Found"


def test_pygithub_reads_branches_tags_refs_and_edits_protection(git, project, live_server):
    git.run("tag", "-a", "v1", "-m", "one", cwd=project.work)
    git.run("checkout", "-q", "-b", "feature/deep", cwd=project.work)
    git.commit(project.work, {"f": "1"}, "feature")
    git.run("push", project.push_url, "v1", "feature/deep", cwd=project.work)

    gh = Github(base_url=f"{live_server}/api/v3", auth=Auth.Token(project.token))
    repo = gh.get_repo("alice/project")
    assert sorted(b.name for b in repo.get_branches()) == ["feature/deep", "main"]
    feature = repo.get_branch("feature/deep")
    assert feature.commit.sha == git.head(project.work)
    assert [t.name for t in repo.get_tags()] == ["v1"]
    assert repo.get_git_ref("heads/main").object.sha == remote_main(git, project)
    assert repo.get_git_ref("tags/v1").object.type == "tag"

    main = repo.get_branch("main")
    main.edit_protection(strict=True, contexts=["ci/test"], enforce_admins=True)
    protection = main.get_protection()
    assert protection.required_status_checks.contexts == ["ci/test"]
    assert protection.enforce_admins is True
    assert repo.get_branch("main").protected is True
    main.remove_protection()
    assert repo.get_branch("main").protected is False


def test_refs_changed_through_the_api_pass_the_same_checks_and_are_recorded(git, project, database):
    from sqlalchemy import select

    from forge.models import PushEvent

    main = remote_main(git, project)
    created = requests.post(
        f"{project.api}/git/refs",
        json={"ref": "refs/heads/release", "sha": main},
        headers=project.headers,
        timeout=30,
    )
    assert created.status_code == 201 and created.json()["object"]["sha"] == main
    again = requests.post(
        f"{project.api}/git/refs",
        json={"ref": "refs/heads/release", "sha": main},
        headers=project.headers,
        timeout=30,
    )
    assert again.status_code == 422 and again.json()["message"] == "Reference already exists"

    # Move main forward on the server through git, then try to move release backwards.
    newer = git.commit(project.work, {"a.txt": "two\n"}, "newer")
    git.run("push", project.push_url, "main", cwd=project.work)
    moved = requests.patch(
        f"{project.api}/git/refs/heads/release",
        json={"sha": newer},
        headers=project.headers,
        timeout=30,
    )
    assert moved.status_code == 200
    backwards = requests.patch(
        f"{project.api}/git/refs/heads/release",
        json={"sha": main},
        headers=project.headers,
        timeout=30,
    )
    assert backwards.status_code == 422
    assert backwards.json()["message"] == "Update is not a fast forward"

    protect(project, enforce_admins=True)
    forced = requests.patch(
        f"{project.api}/git/refs/heads/main",
        json={"sha": main, "force": True},
        headers=project.headers,
        timeout=30,
    )
    assert forced.status_code == 403 and "force-pushes are not allowed" in forced.json()["message"]
    deleted = requests.delete(
        f"{project.api}/git/refs/heads/main", headers=project.headers, timeout=30
    )
    assert deleted.status_code == 403 and "cannot be deleted" in deleted.json()["message"]
    assert remote_main(git, project) == newer

    assert (
        requests.delete(
            f"{project.api}/git/refs/heads/release", headers=project.headers, timeout=30
        ).status_code
        == 204
    )
    with database.session() as session:
        api_events = session.scalars(
            select(PushEvent).where(PushEvent.via == "api").order_by(PushEvent.id)
        ).all()
    assert [(e.ref, e.after[:7]) for e in api_events] == [
        ("refs/heads/release", main[:7]),
        ("refs/heads/release", newer[:7]),
        ("refs/heads/release", "0000000"),
    ]


def test_a_refused_push_says_how_to_propose_the_change(git, project, live_server):
    git.run("push", project.push_url, "main:stable", cwd=project.work)
    response = requests.put(
        f"{project.api}/branches/stable/protection",
        json={
            "required_status_checks": None,
            "enforce_admins": None,
            "required_pull_request_reviews": {"required_approving_review_count": 1},
            "restrictions": None,
        },
        headers=project.headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    git.commit(project.work, {"a.txt": "two\n"}, "a fix for stable")
    refused = git.run("push", project.bob_url, "HEAD:stable", cwd=project.work, check=False)
    assert refused.returncode != 0
    # git pads sideband lines with spaces to overwrite progress output.
    lines = [line.rstrip() for line in refused.stderr.splitlines() if line.startswith("remote:")]
    said = "\n".join(lines)
    assert "stable is a protected branch" in said
    assert "remote: hint:   git push origin HEAD:refs/for/stable" in lines
    assert (
        f"remote: hint: or fork alice/project at {live_server}/alice/project/fork, push your branch"
        in lines
    )

    # Following the hint (with forge's commit-msg hook) opens a change against stable.
    git.install_change_id_hook(project.work)
    git.run("commit", "-q", "--amend", "--no-edit", cwd=project.work)
    uploaded = git.run("push", project.bob_url, "HEAD:refs/for/stable", cwd=project.work)
    assert uploaded.returncode == 0, uploaded.stderr
    pulls = requests.get(f"{project.api}/pulls", headers=project.headers, timeout=30).json()
    assert [(p["base"]["ref"], p["title"]) for p in pulls] == [("stable", "a fix for stable")]
