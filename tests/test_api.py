"""The REST API under /api/v3, driven by PyGithub itself against a live server.

`requests` is used only where PyGithub hides what a user of the API would see: status codes,
Link headers and error bodies.
"""

from __future__ import annotations

import pytest
import requests
from dulwich.repo import Repo as DulwichRepo
from github import GithubException, UnknownObjectException
from sqlalchemy import select

from forge.models import Repository


@pytest.fixture
def alice(make_user, make_token):
    make_user("alice")
    return make_token("alice")


@pytest.fixture
def bob(make_user, make_token):
    make_user("bob")
    return make_token("bob")


def repo_dir(settings, owner: str, name: str):
    return settings.repos_dir / owner / f"{name}.git"


def repo_rows(database, name: str) -> list:
    with database.session() as session:
        return list(session.scalars(select(Repository).where(Repository.lower_name == name)))


# --- users ----------------------------------------------------------------------------------


def test_get_user_answers_for_the_token_owner(github, make_user, make_token):
    make_user("root", admin=True)
    made = make_user("alice")
    me = github(make_token("alice")).get_user()
    assert me.login == "alice"
    assert me.id == made.id
    assert me.site_admin is False
    assert me.email == "alice@example.org"
    assert github(make_token("root")).get_user().site_admin is True


def test_get_users_shows_another_users_public_profile(github, alice, make_user):
    made = make_user("bob")
    bob = github(alice).get_user("bob")
    assert (bob.login, bob.id, bob.site_admin) == ("bob", made.id, False)
    assert bob.email is None  # another user's email stays private
    with pytest.raises(UnknownObjectException):
        github(alice).get_user("nobody")


def test_edit_the_authenticated_users_profile(github, api, alice, make_token):
    me = github(alice).get_user()
    me.edit(name="Alice Liddell", email="alice@wonder.land")
    again = github(alice).get_user()
    assert (again.name, again.email) == ("Alice Liddell", "alice@wonder.land")

    refused = api("PATCH", "/user", alice, json={"name": "Mallory", "email": "not-an-email"})
    assert refused.status_code == 422
    narrow = make_token("alice", scopes="repo")
    assert api("PATCH", "/user", narrow, json={"name": "Mallory"}).status_code == 403
    assert github(alice).get_user().name == "Alice Liddell"


# --- creating, changing and deleting repositories -------------------------------------------


def test_create_private_repository(github, alice, settings, live_server):
    repo = github(alice).get_user().create_repo("tools", private=True, description="Handy tools")
    assert repo.full_name == "alice/tools"
    assert repo.name == "tools"
    assert repo.private is True
    assert repo.description == "Handy tools"
    assert repo.default_branch == "main"
    assert repo.owner.login == "alice"
    assert repo.html_url == f"{live_server}/alice/tools"
    assert repo.clone_url.endswith(".git")
    assert repo.clone_url == f"{live_server}/alice/tools.git"
    assert repo.permissions.admin is True
    assert repo_dir(settings, "alice", "tools").is_dir()
    again = github(alice).get_repo("alice/tools")
    assert (again.id, again.private) == (repo.id, True)


def head_of(path) -> bytes:
    with DulwichRepo(str(path)) as repo:
        return repo.refs.get_symrefs()[b"HEAD"]


def test_edit_changes_description_visibility_and_renames_on_disk(github, alice, settings):
    repo = github(alice).get_user().create_repo("draft", private=True, description="old")
    repo.edit(description="Shiny and new", private=False, name="final", default_branch="develop")
    assert repo.full_name == "alice/final"
    assert repo.description == "Shiny and new"
    assert repo.private is False
    assert repo.default_branch == "develop"
    assert not repo_dir(settings, "alice", "draft").exists()
    assert repo_dir(settings, "alice", "final").is_dir()
    assert head_of(repo_dir(settings, "alice", "final")) == b"refs/heads/develop"
    fetched = github(alice).get_repo("alice/final")
    assert (fetched.description, fetched.private) == ("Shiny and new", False)
    with pytest.raises(UnknownObjectException):
        github(alice).get_repo("alice/draft")


def test_a_leftover_directory_is_never_overwritten(github, alice, settings, api, database):
    stray = repo_dir(settings, "alice", "stray")
    stray.mkdir(parents=True)
    (stray / "keep-me").write_text("not forge's")
    created = api("POST", "/user/repos", alice, json={"name": "stray"})
    assert created.status_code == 422
    assert repo_rows(database, "stray") == []

    github(alice).get_user().create_repo("proj")
    renamed = api("PATCH", "/repos/alice/proj", alice, json={"name": "stray"})
    assert renamed.status_code == 422
    assert "already exists on disk" in renamed.json()["message"]
    assert repo_dir(settings, "alice", "proj").is_dir()
    assert (stray / "keep-me").read_text() == "not forge's"
    assert github(alice).get_repo("alice/proj").name == "proj"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "two", "default_branch": "develop"},
        {"name": "a b", "default_branch": "develop", "private": True},
        {"name": "renamed", "default_branch": "bad..branch"},
        {"name": "renamed", "visibility": "internal"},
        {"name": "renamed", "description": "x" * 351},
    ],
)
def test_a_refused_edit_changes_nothing(github, alice, settings, api, change):
    me = github(alice).get_user()
    me.create_repo("one", description="as it was")
    me.create_repo("two")
    response = api("PATCH", "/repos/alice/one", alice, json={"description": "new", **change})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] in change
    assert repo_dir(settings, "alice", "one").is_dir()
    assert not repo_dir(settings, "alice", "renamed").exists()
    assert head_of(repo_dir(settings, "alice", "one")) == b"refs/heads/main"
    one = github(alice).get_repo("alice/one")
    assert (one.name, one.description, one.private, one.default_branch) == (
        "one",
        "as it was",
        False,
        "main",
    )


def test_delete_removes_the_row_and_the_directory(github, alice, settings, database):
    repo = github(alice).get_user().create_repo("doomed")
    assert repo_dir(settings, "alice", "doomed").is_dir()
    repo.delete()
    assert not repo_dir(settings, "alice", "doomed").exists()
    assert repo_rows(database, "doomed") == []
    with pytest.raises(UnknownObjectException):
        github(alice).get_repo("alice/doomed")


# --- listings and pagination ----------------------------------------------------------------


def test_listings_paginate_with_link_headers(github, alice, api):
    me = github(alice).get_user()
    names = {f"repo{i}" for i in range(5)}
    for name in sorted(names):
        me.create_repo(name)

    first = api("GET", "/user/repos", alice, params={"per_page": 2})
    assert first.status_code == 200
    assert len(first.json()) == 2
    assert set(first.links) == {"next", "last"}
    assert "page=2" in first.links["next"]["url"] and "per_page=2" in first.links["next"]["url"]
    assert "page=3" in first.links["last"]["url"]

    last = requests.get(
        first.links["last"]["url"], headers={"Authorization": f"token {alice}"}, timeout=30
    )
    assert len(last.json()) == 1
    assert set(last.links) == {"first", "prev"}

    everything = api("GET", "/user/repos", alice)
    assert len(everything.json()) == 5 and "Link" not in everything.headers

    paged = github(alice, per_page=2)
    assert {r.name for r in paged.get_user().get_repos()} == names
    assert {r.name for r in paged.get_user("alice").get_repos()} == names
    assert paged.get_user().get_repos().totalCount == 5


def test_links_use_the_configured_external_url(client, settings, alice):
    settings.base_url = "https://forge.example"  # as behind a proxy: FORGE_BASE_URL
    headers = {"Authorization": f"token {alice}"}
    for name in ("one", "two"):
        assert (
            client.post("/api/v3/user/repos", json={"name": name}, headers=headers).status_code
            == 201
        )
    response = client.get("/api/v3/user/repos?per_page=1", headers=headers)
    assert response.json[0]["html_url"].startswith("https://forge.example/alice/")
    assert response.headers["Link"].startswith("<https://forge.example/api/v3/user/repos?")


def test_user_repos_lists_repositories_shared_with_me(github, alice, bob):
    github(alice).get_user().create_repo("shared", private=True).add_to_collaborators(
        "bob", permission="pull"
    )
    github(alice).get_user().create_repo("secret", private=True)
    assert [r.full_name for r in github(bob).get_user().get_repos()] == ["alice/shared"]


# --- collaborators --------------------------------------------------------------------------


def test_collaborators_can_be_added_checked_listed_and_removed(github, alice, bob, api):
    repo = github(alice).get_user().create_repo("team", private=True)
    added = api("PUT", "/repos/alice/team/collaborators/bob", alice, json={"permission": "push"})
    assert added.status_code == 201
    assert added.json()["invitee"]["login"] == "bob"
    assert added.json()["permissions"] == "write"
    again = api("PUT", "/repos/alice/team/collaborators/bob", alice, json={"permission": "push"})
    assert again.status_code == 204 and again.content == b""

    assert repo.has_in_collaborators("bob") is True
    assert repo.has_in_collaborators("alice") is True  # the owner is a collaborator too
    assert repo.get_collaborator_permission("bob") == "write"
    assert repo.get_collaborator_permission("alice") == "admin"
    listed = {u.login: u for u in repo.get_collaborators()}
    assert set(listed) == {"alice", "bob"}
    assert listed["bob"].permissions.push is True
    assert listed["bob"].permissions.admin is False
    assert listed["bob"].role_name == "write"
    assert github(bob).get_repo("alice/team").permissions.push is True

    repo.add_to_collaborators("bob", permission="triage")  # a change answers 204: no invitation
    assert repo.get_collaborator_permission("bob") == "read"  # GitHub's legacy name for triage
    permission = api("GET", "/repos/alice/team/collaborators/bob/permission", alice).json()
    assert permission["role_name"] == "triage"

    repo.remove_from_collaborators("bob")
    assert repo.has_in_collaborators("bob") is False
    assert repo.get_collaborator_permission("bob") == "none"
    with pytest.raises(UnknownObjectException):
        github(bob).get_repo("alice/team")


def test_a_collaborator_without_admin_cannot_manage_collaborators(github, alice, bob, make_user):
    make_user("carol")
    github(alice).get_user().create_repo("team").add_to_collaborators("bob", permission="push")
    as_bob = github(bob).get_repo("alice/team")
    with pytest.raises(GithubException) as refused:
        as_bob.add_to_collaborators("carol", permission="admin")
    assert refused.value.status == 403
    assert github(alice).get_repo("alice/team").has_in_collaborators("carol") is False


def test_unknown_permission_and_unknown_user_are_refused(github, alice, api):
    github(alice).get_user().create_repo("team")
    bad = api("PUT", "/repos/alice/team/collaborators/alice", alice, json={"permission": "root"})
    assert bad.status_code == 422
    ghost = api("PUT", "/repos/alice/team/collaborators/ghost", alice, json={"permission": "pull"})
    assert ghost.status_code == 404


# --- errors ---------------------------------------------------------------------------------


def test_bad_credentials_answer_401_in_githubs_shape(api, github, alice):
    response = api("GET", "/user", "forge_not-a-real-token")
    assert response.status_code == 401
    body = response.json()
    assert body["message"] == "Bad credentials"
    assert body["documentation_url"].startswith("https://")
    with pytest.raises(GithubException) as failed:
        _ = github("forge_not-a-real-token").get_user().login
    assert failed.value.status == 401


def test_unknown_api_routes_answer_json_404(api, alice):
    for method, path in [("GET", "/no/such/thing"), ("POST", "/repos/a/b/c/d/e")]:
        response = api(method, path, alice)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["message"] == "Not Found"
        assert "documentation_url" in response.json()


def test_malformed_json_is_a_400(api, alice):
    response = api("POST", "/user/repos", alice, data="{not json")
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"


@pytest.mark.parametrize("name", ["../x", "a b", "", ".hidden", "x" * 101, "new", "me.git"])
def test_bad_repository_names_are_422_and_write_nothing(api, alice, settings, database, name):
    response = api("POST", "/user/repos", alice, json={"name": name})
    assert response.status_code == 422
    body = response.json()
    assert body["message"] and body["errors"][0]["field"] == "name"
    with database.session() as session:
        assert session.scalars(select(Repository)).all() == []
    owner_dir = settings.repos_dir / "alice"
    assert not owner_dir.exists() or list(owner_dir.iterdir()) == []
    assert not (settings.repos_dir / "x.git").exists()


def test_wrong_json_types_are_422(api, alice, database):
    for body in ({"name": 5}, {"name": "ok", "private": "yes"}, {"name": "ok", "description": 1}):
        assert api("POST", "/user/repos", alice, json=body).status_code == 422
    assert repo_rows(database, "ok") == []


def test_a_duplicate_name_is_422_whatever_the_case(github, alice, api, settings, database):
    github(alice).get_user().create_repo("dup", description="the first")
    for name in ("dup", "DUP"):
        response = api("POST", "/user/repos", alice, json={"name": name, "description": "2nd"})
        assert response.status_code == 422
        assert "already has a repository" in response.json()["message"]
    rows = repo_rows(database, "dup")
    assert [r.description for r in rows] == ["the first"]
    assert repo_dir(settings, "alice", "dup").is_dir()


def test_a_token_without_the_scope_is_refused_with_403(
    github, api, make_user, make_token, settings, database
):
    make_user("alice")
    narrow = make_token("alice", scopes="user")
    response = api("POST", "/user/repos", narrow, json={"name": "nope"})
    assert response.status_code == 403
    assert "repo" in response.json()["message"]
    assert repo_rows(database, "nope") == []
    assert not repo_dir(settings, "alice", "nope").exists()

    no_delete = make_token("alice", scopes="repo")
    repo = github(no_delete).get_user().create_repo("kept")
    with pytest.raises(GithubException) as refused:
        repo.delete()
    assert refused.value.status == 403
    assert repo_dir(settings, "alice", "kept").is_dir()
    assert github(no_delete).get_repo("alice/kept").name == "kept"


def test_requests_that_need_a_user_answer_401_when_anonymous(api):
    assert api("GET", "/user").status_code == 401
    assert api("POST", "/user/repos", json={"name": "x"}).status_code == 401


def test_a_private_repository_is_invisible_to_those_who_may_not_read_it(
    github, api, alice, bob, make_token
):
    me = github(alice).get_user()
    me.create_repo("hidden", private=True)
    me.create_repo("open")
    no_repo_scope = make_token("alice", scopes="user")
    for token in (bob, None, no_repo_scope):
        response = api("GET", "/repos/alice/hidden", token)
        assert response.status_code == 404
        assert response.json()["message"] == "Not Found"
        with pytest.raises(UnknownObjectException):
            github(token).get_repo("alice/hidden")
        listed = [r.name for r in github(token).get_user("alice").get_repos()]
        assert listed == ["open"]
        assert "hidden" not in api("GET", "/users/alice/repos", token).text
    assert [r.name for r in github(no_repo_scope).get_user().get_repos()] == ["open"]
    # Nor can a stranger change it: they are told it does not exist.
    assert api("PATCH", "/repos/alice/hidden", bob, json={"private": False}).status_code == 404
    assert api("DELETE", "/repos/alice/hidden", bob).status_code == 404
    assert github(alice).get_repo("alice/hidden").private is True
    assert {r.name for r in github(alice).get_user("alice").get_repos()} == {"hidden", "open"}


def test_a_reader_cannot_change_or_delete_a_repository(github, alice, bob, api):
    github(alice).get_user().create_repo("readonly").add_to_collaborators("bob", "pull")
    assert api("PATCH", "/repos/alice/readonly", bob, json={"description": "x"}).status_code == 403
    assert api("DELETE", "/repos/alice/readonly", bob).status_code == 403
    assert github(alice).get_repo("alice/readonly").description is None
