"""Repositories, profiles and account settings through the real HTML forms."""

from __future__ import annotations

import hashlib
import re

import pytest
from conftest import PASSWORD, csrf_from, form_post
from dulwich.repo import Repo
from sqlalchemy import select

from forge.models import AccessToken, Repository


@pytest.fixture
def sign_in(app, login):
    """A fresh browser signed in as the named user."""

    def browser(name: str, password: str = PASSWORD):
        return login(name, password, test_client=app.test_client())

    return browser


@pytest.fixture
def alice(make_user, sign_in):
    make_user("alice")
    return sign_in("alice")


def submit(browser, page_url: str, action: str, fields: dict, prefix: str = ""):
    """Post one of several forms on a page: prefixed forms carry `<prefix>-csrf_token`."""
    token = csrf_from(browser.get(page_url).get_data(as_text=True))
    key = f"{prefix}-csrf_token" if prefix else "csrf_token"
    return browser.post(action, data={key: token, **fields})


def create(browser, name: str, visibility: str = "public", **fields):
    data = {"name": name, "visibility": visibility, "default_branch": "main", **fields}
    return form_post(browser, "/new", "/new", data)


def change_settings(browser, repo: str, **fields):
    page = f"/{repo}/settings"
    current = {"name": repo.split("/")[1], "description": "", "default_branch": "main"}
    return submit(browser, page, page, {**current, **fields})


def set_collaborator(browser, repo: str, user: str, role: str):
    page = f"/{repo}/settings"
    fields = {"collab-username": user, "collab-role": role}
    return submit(browser, page, f"{page}/collaborators", fields, prefix="collab")


def head_of(path) -> bytes:
    with Repo(str(path)) as repo:
        return repo.refs.get_symrefs()[b"HEAD"]


def repo_dir(settings, owner: str, name: str):
    return settings.repos_dir / owner / f"{name}.git"


def all_repositories(database) -> list[Repository]:
    with database.session() as session:
        return list(session.scalars(select(Repository)))


def text(response) -> str:
    return response.get_data(as_text=True)


# --- creating -------------------------------------------------------------------------------


def test_create_a_public_repository(alice, app, settings, database):
    response = create(alice, "tools", description="Handy tools")
    assert response.status_code == 302
    assert response.headers["Location"] == "/alice/tools"
    page = text(alice.get("/alice/tools"))
    assert "Handy tools" in page and "Public" in page
    assert "http://localhost/alice/tools.git" in page  # the clone URL
    path = repo_dir(settings, "alice", "tools")
    with Repo(str(path)) as repo:
        assert repo.bare
    assert head_of(path) == b"refs/heads/main"
    [row] = all_repositories(database)
    assert (row.name, row.is_private, row.description) == ("tools", False, "Handy tools")
    assert app.test_client().get("/alice/tools").status_code == 200


def test_create_a_private_repository_with_its_own_default_branch(alice, settings, database):
    response = create(alice, "Secret", visibility="private", default_branch="trunk")
    assert response.status_code == 302
    assert "Private" in text(alice.get("/alice/Secret"))
    assert head_of(repo_dir(settings, "alice", "secret")) == b"refs/heads/trunk"
    [row] = all_repositories(database)
    assert (row.is_private, row.default_branch) == (True, "trunk")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "../x"}, "invalid repository name"),
        ({"name": "a b"}, "invalid repository name"),
        ({"name": ".dot"}, "invalid repository name"),
        ({"name": "x" * 101}, "Field cannot be longer than 100 characters"),
        ({"name": "new"}, "reserved"),
        ({"name": "code.git"}, "reserved"),
        ({"name": ""}, "This field is required"),
        ({"name": "ok", "default_branch": "a..b"}, "invalid branch name"),
        ({"name": "ok", "default_branch": "bad branch"}, "invalid branch name"),
        ({"name": "ok", "visibility": "secret"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_400_with_a_message_and_writes_nothing(
    alice, settings, database, fields, message
):
    response = create(alice, **fields)
    assert response.status_code == 400
    assert message in text(response)
    assert all_repositories(database) == []
    assert not (settings.repos_dir / "alice").exists() or not any(
        (settings.repos_dir / "alice").iterdir()
    )
    assert not (settings.repos_dir / "x.git").exists()


def test_a_duplicate_name_is_refused_whatever_the_case(alice, database):
    assert create(alice, "dup", description="first").status_code == 302
    response = create(alice, "DUP", description="second")
    assert response.status_code == 400
    assert "already has a repository named" in text(response)
    assert [r.description for r in all_repositories(database)] == ["first"]


def test_creating_needs_a_signed_in_user(client, database):
    assert client.get("/new").status_code == 302
    response = client.post("/new", data={"name": "x", "csrf_token": "forged"})
    assert response.status_code in (302, 400)
    assert all_repositories(database) == []


# --- who sees what --------------------------------------------------------------------------


def test_home_page_lists_your_repositories_and_the_public_ones(alice, make_user, sign_in, client):
    make_user("bob")
    bob = sign_in("bob")
    create(alice, "alices-secret", visibility="private")
    create(alice, "alices-open")
    create(bob, "bobs-secret", visibility="private")
    create(bob, "bobs-open")

    home = text(alice.get("/"))
    assert "Your repositories" in home
    mine, public = home.split("Public repositories")
    assert "alice/alices-secret" in mine and "alice/alices-open" in mine
    assert "bob/bobs" not in mine
    assert "bob/bobs-open" in public and "alice/alices-open" in public
    assert "secret" not in public

    anonymous = text(client.get("/"))
    assert "Your repositories" not in anonymous
    assert "bob/bobs-open" in anonymous and "alice/alices-open" in anonymous
    assert "secret" not in anonymous


def test_a_private_repository_shows_only_to_its_owner_and_collaborators(
    alice, make_user, sign_in, client
):
    make_user("reader")
    make_user("stranger")
    create(alice, "hidden", visibility="private")
    assert set_collaborator(alice, "alice/hidden", "reader", "read").status_code == 302
    reader, stranger = sign_in("reader"), sign_in("stranger")

    assert alice.get("/alice/hidden").status_code == 200
    assert reader.get("/alice/hidden").status_code == 200
    assert client.get("/alice/hidden").status_code == 404
    assert stranger.get("/alice/hidden").status_code == 404
    # Not found looks the same as a repository that never existed (but for the CSRF token of
    # the page's sign-out form, signed with the second it was made in).
    hidden, never_was = (
        re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1"', text(stranger.get(path)))
        for path in ("/alice/hidden", "/alice/never-was")
    )
    assert hidden == never_was

    assert alice.get("/alice/hidden/settings").status_code == 200
    assert reader.get("/alice/hidden/settings").status_code == 403
    assert stranger.get("/alice/hidden/settings").status_code == 404
    assert client.get("/alice/hidden/settings").status_code == 302  # to the sign-in page
    assert "Settings" not in text(reader.get("/alice/hidden")).split("</header>")[1]


def test_a_profile_lists_only_repositories_the_viewer_may_see(alice, make_user, sign_in, client):
    make_user("bob")
    make_user("carol")
    create(alice, "open")
    create(alice, "shared", visibility="private")
    create(alice, "mine-only", visibility="private")
    set_collaborator(alice, "alice/shared", "bob", "read")

    def listed(browser) -> set[str]:
        return set(re.findall(r"alice/([\w.-]+)</a>", text(browser.get("/alice"))))

    assert listed(alice) == {"open", "shared", "mine-only"}
    assert listed(sign_in("bob")) == {"open", "shared"}
    assert listed(sign_in("carol")) == {"open"}
    assert listed(client) == {"open"}
    assert client.get("/nobody-here").status_code == 404


# --- settings -------------------------------------------------------------------------------


def test_rename_through_settings_moves_the_directory(alice, settings, database):
    create(alice, "before")
    response = change_settings(alice, "alice/before", name="after")
    assert response.status_code == 302
    assert response.headers["Location"] == "/alice/after/settings"
    assert not repo_dir(settings, "alice", "before").exists()
    assert repo_dir(settings, "alice", "after").is_dir()
    assert alice.get("/alice/after").status_code == 200
    assert alice.get("/alice/before").status_code == 404
    assert [r.name for r in all_repositories(database)] == ["after"]


def test_change_description_visibility_and_default_branch(alice, settings, client):
    create(alice, "proj")
    response = change_settings(
        alice, "alice/proj", description="Now described", private="y", default_branch="develop"
    )
    assert response.status_code == 302
    page = text(alice.get("/alice/proj"))
    assert "Now described" in page and "Private" in page
    assert "git push -u origin develop" in page
    assert head_of(repo_dir(settings, "alice", "proj")) == b"refs/heads/develop"
    assert client.get("/alice/proj").status_code == 404

    change_settings(alice, "alice/proj", description="Now described", default_branch="develop")
    assert client.get("/alice/proj").status_code == 200  # public again: checkbox left empty


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "a b", "default_branch": "dev", "private": "y"},
        {"name": "other", "default_branch": "dev"},
        {"name": "renamed", "default_branch": "bad..branch"},
        {"name": "renamed", "description": "x" * 351},
    ],
)
def test_rejected_settings_change_nothing(alice, settings, database, client, fields):
    create(alice, "proj", description="as it was")
    create(alice, "other")
    response = change_settings(alice, "alice/proj", **{"description": "changed", **fields})
    assert response.status_code == 400
    assert 'class="error"' in text(response)
    row = next(r for r in all_repositories(database) if r.id == 1)
    assert (row.name, row.description, row.is_private, row.default_branch) == (
        "proj",
        "as it was",
        False,
        "main",
    )
    path = repo_dir(settings, "alice", "proj")
    assert path.is_dir() and not repo_dir(settings, "alice", "renamed").exists()
    assert head_of(path) == b"refs/heads/main"
    assert client.get("/alice/proj").status_code == 200


def test_collaborators_are_added_changed_and_removed(alice, make_user, sign_in):
    make_user("bob")
    bob = sign_in("bob")
    create(alice, "team", visibility="private")
    assert bob.get("/alice/team").status_code == 404

    response = set_collaborator(alice, "alice/team", "bob", "read")
    assert response.status_code == 302
    settings_page = text(alice.get("/alice/team/settings"))
    assert "bob added as read." in settings_page
    assert re.search(r">bob</a></td>\s*<td>read</td>", settings_page)
    assert bob.get("/alice/team").status_code == 200
    assert bob.get("/alice/team/settings").status_code == 403

    set_collaborator(alice, "alice/team", "bob", "admin")
    assert "bob changed to admin." in text(alice.get("/alice/team/settings"))
    assert bob.get("/alice/team/settings").status_code == 200

    page = "/alice/team/settings"
    removed = submit(
        alice, page, f"{page}/collaborators/remove", {"remove-username": "bob"}, prefix="remove"
    )
    assert removed.status_code == 302
    assert "bob removed." in text(alice.get(page))
    assert bob.get("/alice/team").status_code == 404


def test_bad_collaborators_are_refused_with_a_message(alice, make_user, database):
    make_user("bob")
    create(alice, "team")
    for user, role, message in [
        ("ghost", "read", "no user named"),
        ("alice", "read", "owns alice/team already"),
        ("bob", "overlord", "Not a valid choice"),
    ]:
        response = set_collaborator(alice, "alice/team", user, role)
        assert response.status_code == 400
        assert message in text(response)
    with database.session() as session:
        assert session.scalars(select(Repository)).one().collaborators == []


def test_delete_needs_the_full_name_typed_out(alice, settings, database):
    create(alice, "doomed")
    page = "/alice/doomed/settings"
    for typed in ("doomed", "alice/other", "bob/doomed"):
        wrong = submit(
            alice, page, f"{page}/delete", {"delete-confirmation": typed}, prefix="delete"
        )
        assert wrong.status_code == 400
        assert "type alice/doomed to confirm" in text(wrong)
        assert len(all_repositories(database)) == 1
        assert repo_dir(settings, "alice", "doomed").is_dir()

    right = submit(
        alice, page, f"{page}/delete", {"delete-confirmation": "alice/doomed"}, prefix="delete"
    )
    assert right.status_code == 302
    assert "alice/doomed was deleted." in text(alice.get("/"))
    assert all_repositories(database) == []
    assert not repo_dir(settings, "alice", "doomed").exists()
    assert alice.get("/alice/doomed").status_code == 404


def test_only_an_admin_of_the_repository_may_delete_it(alice, make_user, sign_in, settings):
    make_user("bob")
    create(alice, "kept")
    set_collaborator(alice, "alice/kept", "bob", "maintain")
    bob = sign_in("bob")
    response = bob.post(
        "/alice/kept/settings/delete",
        data={"delete-csrf_token": csrf_from(text(bob.get("/"))), "delete-confirmation": "x"},
    )
    assert response.status_code == 403
    assert repo_dir(settings, "alice", "kept").is_dir()


def test_forms_without_a_csrf_token_are_refused(alice, make_user, settings, database):
    make_user("bob")
    create(alice, "proj")
    attempts = [
        ("/new", {"name": "sneaky", "visibility": "public", "default_branch": "main"}),
        ("/alice/proj/settings", {"name": "renamed", "default_branch": "main"}),
        ("/alice/proj/settings/collaborators", {"collab-username": "bob", "collab-role": "admin"}),
        ("/alice/proj/settings/delete", {"delete-confirmation": "alice/proj"}),
        ("/settings/tokens", {"label": "sneaky"}),
        ("/settings/", {"full_name": "Mallory", "email": "mallory@example.org"}),
    ]
    for action, fields in attempts:
        assert alice.post(action, data=fields).status_code == 400, action
    with database.session() as session:
        [row] = session.scalars(select(Repository)).all()
        assert (row.name, row.collaborators) == ("proj", [])
    assert repo_dir(settings, "alice", "proj").is_dir()
    with database.session() as session:
        assert session.scalars(select(AccessToken)).all() == []
    assert "Mallory" not in text(alice.get("/settings/"))


# --- account settings -----------------------------------------------------------------------


def test_a_new_token_is_shown_once_stored_hashed_and_works_until_revoked(alice, database, client):
    response = form_post(
        alice, "/settings/tokens", "/settings/tokens", {"label": "laptop", "scopes": ["repo"]}
    )
    assert response.status_code == 200
    secret = re.search(r'id="new-token"[^>]*value="(forge_[^"]+)"', text(response)).group(1)
    assert response.headers["Cache-Control"] == "no-store"  # not even the browser keeps it

    later = text(alice.get("/settings/tokens"))
    assert secret not in later
    assert "laptop" in later and secret[:10] in later

    with database.session() as session:
        [row] = session.scalars(select(AccessToken)).all()
        stored = (row.token_hash, row.token_prefix, row.label, row.scopes)
    assert stored[0] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored
    assert stored[3] == "repo"

    answer = client.get("/api/v3/user", headers={"Authorization": f"token {secret}"})
    assert answer.status_code == 200 and answer.json["login"] == "alice"
    assert answer.headers["X-OAuth-Scopes"] == "repo"

    revoked = form_post(alice, "/settings/tokens", f"/settings/tokens/{row.id}/revoke", {})
    assert revoked.status_code == 302
    assert "You have no tokens." in text(alice.get("/settings/tokens"))
    gone = client.get("/api/v3/user", headers={"Authorization": f"token {secret}"})
    assert gone.status_code == 401


def test_tokens_need_a_label_and_allowed_scopes(alice, database):
    for fields in ({"label": ""}, {"label": "x", "scopes": ["site_admin"]}, {"label": "x" * 101}):
        response = form_post(alice, "/settings/tokens", "/settings/tokens", fields)
        assert response.status_code == 400
        assert 'id="new-token"' not in text(response)
    with database.session() as session:
        assert session.scalars(select(AccessToken)).all() == []


def test_a_user_cannot_revoke_someone_elses_token(alice, make_user, make_token, client):
    make_user("bob")
    secret = make_token("bob")
    response = form_post(alice, "/settings/tokens", "/settings/tokens/1/revoke", {})
    assert response.status_code == 404
    still = client.get("/api/v3/user", headers={"Authorization": f"token {secret}"})
    assert still.status_code == 200


def test_profile_changes_show_on_the_profile_page(alice, client):
    response = form_post(
        alice, "/settings/", "/settings/", {"full_name": "Alice Liddell", "email": "a@wonder.land"}
    )
    assert response.status_code == 302
    assert "Profile saved." in text(alice.get("/settings/"))
    assert 'value="a@wonder.land"' in text(alice.get("/settings/"))
    assert "Alice Liddell" in text(client.get("/alice"))

    bad = form_post(alice, "/settings/", "/settings/", {"full_name": "X", "email": "not-an-email"})
    assert bad.status_code == 400
    assert "invalid email address" in text(bad)
    assert "Alice Liddell" in text(client.get("/alice"))


def test_password_change_needs_the_current_password(alice, app, login):
    def change(current: str, new: str):
        fields = {"pw-current": current, "pw-new": new}
        return submit(alice, "/settings/", "/settings/password", fields, prefix="pw")

    wrong = change("not my password", "brand new password")
    assert wrong.status_code == 302
    assert "The current password is wrong." in text(alice.get("/settings/"))

    short = change(PASSWORD, "short")
    assert short.status_code == 302
    assert "at least 8 characters" in text(alice.get("/settings/"))
    login("alice", PASSWORD, test_client=app.test_client())  # still the old password

    assert change(PASSWORD, "brand new password").status_code == 302
    assert "Password changed." in text(alice.get("/settings/"))
    login("alice", "brand new password", test_client=app.test_client())
    stale = app.test_client()
    token = csrf_from(text(stale.get("/login")))
    old = stale.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert old.status_code == 401


def test_guessing_the_current_password_is_throttled_like_signing_in(alice, app, login):
    def change(current: str):
        fields = {"pw-current": current, "pw-new": "brand new password"}
        return submit(alice, "/settings/", "/settings/password", fields, prefix="pw")

    for attempt in range(5):
        assert change(f"guess number {attempt}").status_code == 302
    locked = change(PASSWORD)
    assert locked.status_code == 429
    assert "too many failed sign-in attempts" in text(locked)
    assert change(PASSWORD).status_code == 429
    other = app.test_client()
    token = csrf_from(text(other.get("/login")))
    response = other.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429  # the same (account, address) limit as the sign-in form
