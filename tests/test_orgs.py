"""Organizations and teams, driven as a team moving from GitHub would: PyGithub creates the
organization's repository and teams and gives a team a role; the members then push with the
real `git` over HTTP, and whoever leaves the organization loses the private repository."""

from __future__ import annotations

import pytest
from conftest import authed, csrf_from
from github import GithubException

from forge.accounts import users as accounts
from forge.errors import Invalid


@pytest.fixture
def org_story(make_user, make_token, github, live_server):
    """alice creates the organization `acme`; bob and carol have accounts and tokens."""
    for name in ("alice", "bob", "carol"):
        make_user(name)
    tokens = {name: make_token(name) for name in ("alice", "bob", "carol")}
    alice = github(tokens["alice"])
    # github.com has no call that creates an organization; GitHub Enterprise Server's is it.
    _headers, body = alice.requester.requestJsonAndCheck(
        "POST", "/admin/organizations", input={"login": "acme", "profile_name": "Acme Inc."}
    )
    assert body["login"] == "acme"
    return tokens, alice


def test_a_team_with_write_pushes_to_a_private_org_repository_until_removed(
    org_story, github, git, tmp_path, live_server, api
):
    tokens, alice = org_story
    org = alice.get_organization("acme")
    assert (org.login, org.name, org.type) == ("acme", "Acme Inc.", "Organization")
    assert [o.login for o in alice.get_user().get_orgs()] == ["acme"]

    repo = org.create_repo("engine", private=True, description="The engine")
    assert repo.full_name == "acme/engine" and repo.private
    assert repo.owner.login == "acme" and repo.owner.type == "Organization"
    assert [r.name for r in org.get_repos()] == ["engine"]

    # Seed the repository as its owner would.
    url = f"{live_server}/acme/engine.git"
    work = git.init(tmp_path / "seed", {"README.md": "# engine\n"})
    git.run("push", authed(url, "alice", tokens["alice"]), "main", cwd=work)

    # bob is nobody there yet: the private repository does not exist for him.
    bob = github(tokens["bob"])
    with pytest.raises(GithubException) as missing:
        bob.get_repo("acme/engine")
    assert missing.value.status == 404
    refused = git.run("clone", authed(url, "bob", tokens["bob"]), str(tmp_path / "no"), check=False)
    assert refused.returncode != 0 and "not found" in refused.stderr.lower()

    team = org.create_team("Core Devs", privacy="closed", description="Who ships the engine")
    assert team.slug == "core-devs"
    team.add_membership(bob.get_user("bob"), "member")
    assert team.update_team_repository(repo, "push") is True
    assert [t.slug for t in org.get_teams()] == ["core-devs"]
    assert org.get_team_by_slug("core-devs").id == team.id
    assert sorted(m.login for m in org.get_members()) == ["alice", "bob"]
    assert "bob" in [m.login for m in team.get_members()]
    assert [r.full_name for r in team.get_repos()] == ["acme/engine"]

    # Through the team bob reads the repository with push rights, and pushes over real git.
    seen = bob.get_repo("acme/engine")
    assert seen.permissions.push is True and seen.permissions.admin is False
    clone = tmp_path / "bob"
    git.run("clone", authed(url, "bob", tokens["bob"]), str(clone))
    head = git.commit(clone, {"engine.py": "print('vroom')\n"}, "Start the engine")
    git.run("push", "origin", "main", cwd=clone)
    assert alice.get_repo("acme/engine").get_branch("main").commit.sha == head
    # The repository's collaborators are whom the organization and its teams reach.
    people = {c.login: c.role_name for c in repo.get_collaborators()}
    assert people == {"alice": "admin", "bob": "write"}
    assert repo.has_in_collaborators("bob") and not repo.has_in_collaborators("carol")
    assert repo.get_collaborator_permission("bob") == "write"
    # carol is not in the organization: still nothing there for her.
    assert api("GET", "/repos/acme/engine", tokens["carol"]).status_code == 404

    # A read-only team lets its members clone but not push.
    readers = org.create_team("Readers", privacy="closed")
    readers.add_membership(github(tokens["carol"]).get_user("carol"))
    readers.update_team_repository(repo, "pull")
    carol_clone = tmp_path / "carol"
    git.run("clone", authed(url, "carol", tokens["carol"]), str(carol_clone))
    git.commit(carol_clone, {"x.txt": "x\n"}, "Carol's change")
    pushed = git.run("push", "origin", "main", cwd=carol_clone, check=False)
    assert pushed.returncode != 0

    # Out of the organization, bob loses the private repository and his team seat.
    org.remove_from_membership(bob.get_user("bob"))
    with pytest.raises(GithubException) as gone:
        bob.get_repo("acme/engine")
    assert gone.value.status == 404
    assert "bob" not in [m.login for m in team.get_members()]
    again = git.run("push", "origin", "main", cwd=clone, check=False)
    assert again.returncode != 0
    assert api("GET", "/repos/acme/engine", tokens["bob"]).status_code == 404


def test_org_rules_refuse_what_github_refuses(org_story, github, api, client, database):
    tokens, alice = org_story
    org = alice.get_organization("acme")
    # Nobody signs in as an organization or holds a token of it, nor takes a user's name.
    form = csrf_from(client.get("/login").get_data(as_text=True))
    for password in ("!", "", "anything at all"):
        signed = client.post(
            "/login", data={"username": "acme", "password": password, "csrf_token": form}
        )
        assert signed.status_code != 302
    with database.session() as session, pytest.raises(Invalid, match="has no tokens"):
        accounts.create_token(session, accounts.get_user(session, "acme"), "sneaky")
    taken = api("POST", "/admin/organizations", tokens["bob"], json={"login": "alice"})
    assert taken.status_code == 422 and "already taken" in taken.text
    # A non-member may not create repositories or teams in it, nor see its teams.
    bob = github(tokens["bob"])
    with pytest.raises(GithubException) as refused:
        bob.get_organization("acme").create_repo("sneaky")
    assert refused.value.status == 403
    outsider = api("POST", "/orgs/acme/teams", tokens["bob"], json={"name": "Mine"})
    assert outsider.status_code == 403
    assert api("GET", "/orgs/acme/teams", tokens["bob"]).status_code == 403
    assert [m.login for m in bob.get_organization("acme").get_members()] == []
    # A member may create repositories (GitHub's default) until an owner says otherwise.
    org.add_to_members(bob.get_user("bob"), "member")
    assert bob.get_organization("acme").create_repo("tools").full_name == "acme/tools"
    edited = api(
        "PATCH", "/orgs/acme", tokens["alice"], json={"members_can_create_repositories": False}
    )
    assert edited.json()["members_can_create_repositories"] is False
    with pytest.raises(GithubException) as closed:
        bob.get_organization("acme").create_repo("more")
    assert closed.value.status == 403
    # The last owner cannot leave, nor be made a plain member.
    last = api("DELETE", "/orgs/acme/memberships/alice", tokens["alice"])
    assert last.status_code == 422 and "last owner" in last.text
    bad = api("PUT", "/orgs/acme/memberships/bob", tokens["alice"], json={"role": "boss"})
    assert bad.status_code == 422
    unknown = api("PUT", "/orgs/acme/memberships/nobody", tokens["alice"], json={})
    assert unknown.status_code == 404
    team = org.create_team("Ops")
    # A team's maintainer who is no owner adds members of the organization, not outsiders.
    team.add_membership(bob.get_user("bob"), "maintainer")
    as_bob = f"/orgs/acme/teams/{team.slug}/memberships"
    assert api("PUT", f"{as_bob}/carol", tokens["bob"], json={}).status_code == 403
    assert api("GET", "/orgs/acme/members/carol", tokens["alice"]).status_code == 404
    assert api("PUT", f"{as_bob}/alice", tokens["bob"], json={}).status_code == 200
    wrong = api(
        "PUT",
        f"/orgs/acme/teams/{team.slug}/repos/acme/tools",
        tokens["alice"],
        json={"permission": "superuser"},
    )
    assert wrong.status_code == 422
    # A repository outside the organization cannot be given to its team.
    alice.get_user().create_repo("personal")
    foreign = api("PUT", f"/orgs/acme/teams/{team.slug}/repos/alice/personal", tokens["alice"])
    assert foreign.status_code == 422 and "does not belong to acme" in foreign.text


def test_the_review_queue_follows_a_teams_role(org_story, github, git, tmp_path, live_server, api):
    """Who may review a private organization repository's change is whom its teams let read
    it: the queue shows the change to a team member and to no one else, and forgets it when
    the team loses the repository."""
    tokens, alice = org_story
    org = alice.get_organization("acme")
    edited = api(
        "PATCH", "/orgs/acme", tokens["alice"], json={"default_repository_permission": "none"}
    )
    assert edited.status_code == 200, edited.text
    repo = org.create_repo("engine", private=True)
    url = authed(f"{live_server}/acme/engine.git", "alice", tokens["alice"])
    work = git.init(tmp_path / "seed", {"README.md": "# engine\n"})
    git.run("push", url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "faster", cwd=work)
    git.commit(work, {"engine.py": "SPEED = 2\n"}, "Go faster")
    git.run("push", url, "faster", cwd=work)
    change = repo.create_pull(title="Go faster", head="faster", base="main")

    def queued(name):
        answer = api("GET", "/review-queue", tokens[name])
        assert answer.status_code == 200, answer.text
        return [item["number"] for item in answer.json()]

    team = org.create_team("Reviewers", privacy="closed")
    bob = github(tokens["bob"])
    team.add_membership(bob.get_user("bob"))
    org.add_to_members(bob.get_user("carol"), "member")  # a member, in no team
    assert queued("bob") == [] and queued("carol") == []
    team.update_team_repository(repo, "triage")
    assert queued("bob") == [change.number]
    assert queued("carol") == []
    team.remove_from_repos(repo)
    assert queued("bob") == []
