"""Sessions that end: a sign-out, a new password and "sign out everywhere" end every cookie
signed in before (a server-side session version); signing in starts a fresh session and CSRF
token; Secure cookies behind HTTPS; FORGE_PROXY_COUNT believes a proxy's X-Forwarded-*."""

from __future__ import annotations

import dataclasses

import pytest
import requests
from conftest import PASSWORD, csrf_from, form_post

from forge.accounts import users as accounts
from forge.app import create_app
from forge.config import ConfigError, Settings
from forge.models import User


def signed_in(client) -> bool:
    """Whether the client's cookies sign someone in: the settings page answers, not a
    redirect to the sign-in form."""
    response = client.get("/settings/")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def with_cookie(app, value: str):
    """Another browser, holding a copy of someone's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", value)
    return thief


@pytest.fixture
def make_app(settings, database):
    """The app again with other settings, on the same database and Redis."""
    made = []

    def make(**changes):
        application = create_app(dataclasses.replace(settings, **changes))
        application.config["TESTING"] = True
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["forge.db"].dispose()


# --- sign-out, new password, sign out everywhere -------------------------------------------


def test_a_cookie_copied_before_logout_no_longer_signs_in(live_server, make_user):
    make_user("alice")
    browser = requests.Session()
    page = browser.get(f"{live_server}/login", timeout=30).text
    answer = browser.post(
        f"{live_server}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302
    copied = browser.cookies.get("session")
    signed_in = browser.get(f"{live_server}/settings/", allow_redirects=False, timeout=30)
    assert signed_in.status_code == 200

    settings_page = browser.get(f"{live_server}/settings/", timeout=30).text
    out = browser.post(
        f"{live_server}/logout",
        data={"csrf_token": csrf_from(settings_page)},
        allow_redirects=False,
        timeout=30,
    )
    assert out.status_code == 302

    replay = requests.get(
        f"{live_server}/settings/", cookies={"session": copied}, allow_redirects=False, timeout=30
    )
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    home = requests.get(f"{live_server}/", cookies={"session": copied}, timeout=30).text
    assert "Sign in" in home or "/login" in home
    assert "Your repositories" not in home


def test_logout_ends_the_session_on_the_server_with_the_test_client(app, make_user, login):
    make_user("alice")
    client = login("alice", test_client=app.test_client())
    copied = session_cookie(client)
    assert signed_in(with_cookie(app, copied))
    form_post(client, "/settings/", "/logout", {})
    assert not signed_in(client)
    assert not signed_in(with_cookie(app, copied))
    # Signing in again works, and only the new cookie does.
    login("alice", test_client=client)
    assert signed_in(client)
    assert not signed_in(with_cookie(app, copied))


def test_a_password_change_signs_out_every_other_session(app, make_user, login, database):
    make_user("alice")
    laptop = login("alice", test_client=app.test_client())
    phone = login("alice", test_client=app.test_client())
    stolen = session_cookie(phone)

    response = form_post(
        laptop,
        "/settings/",
        "/settings/password",
        {"pw-current": PASSWORD, "pw-new": "a brand new password"},
    )
    assert response.status_code == 302

    assert signed_in(laptop)  # the browser that changed it stays signed in
    assert not signed_in(phone)
    assert not signed_in(with_cookie(app, stolen))
    # The new password signs in; the old one does not.
    login("alice", "a brand new password", test_client=app.test_client())
    other = app.test_client()
    token = csrf_from(other.get("/login").get_data(as_text=True))
    refused = other.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 401


def test_a_wrong_current_password_ends_no_session(app, make_user, login):
    make_user("alice")
    laptop = login("alice", test_client=app.test_client())
    phone = login("alice", test_client=app.test_client())
    form_post(
        laptop, "/settings/", "/settings/password", {"pw-current": "wrong!!!!", "pw-new": "x" * 12}
    )
    assert signed_in(laptop) and signed_in(phone)


def test_sign_out_of_all_sessions_from_ones_own_settings(app, make_user, login):
    make_user("alice")
    make_user("bob")
    laptop = login("alice", test_client=app.test_client())
    phone = login("alice", test_client=app.test_client())
    bob = login("bob", test_client=app.test_client())
    page = laptop.get("/settings/").get_data(as_text=True)
    assert "Sign out of all sessions" in page

    # Without the form's CSRF token nothing happens.
    assert laptop.post("/settings/sessions/end").status_code == 400
    assert signed_in(laptop) and signed_in(phone)

    response = form_post(laptop, "/settings/", "/settings/sessions/end", {})
    assert response.status_code == 302
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert signed_in(bob)  # nobody else's


def test_an_admin_signs_an_account_out_everywhere(app, make_user, login):
    make_user("root", admin=True)
    make_user("alice")
    admin = login("root", test_client=app.test_client())
    alice = login("alice", test_client=app.test_client())
    stolen = session_cookie(alice)
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Sign out everywhere" in page

    # CSRF: a post without the token changes nothing.
    assert admin.post("/admin/users/sign-out", data={"username": "alice"}).status_code == 400
    assert signed_in(alice)
    # Not an admin: the page is not there.
    forged = form_post(alice, "/settings/", "/admin/users/sign-out", {"username": "root"})
    assert forged.status_code == 404
    assert signed_in(admin)

    response = form_post(admin, "/admin/users", "/admin/users/sign-out", {"username": "alice"})
    assert response.status_code == 302
    assert "Every session of alice is signed out" in admin.get("/admin/users").get_data(
        as_text=True
    )
    assert not signed_in(alice)
    assert not signed_in(with_cookie(app, stolen))
    assert signed_in(admin)
    # Her password still works.
    assert signed_in(login("alice", test_client=app.test_client()))
    missing = form_post(admin, "/admin/users", "/admin/users/sign-out", {"username": "nobody"})
    assert missing.status_code == 404


def test_a_suspended_or_unknown_user_id_in_a_session_signs_nobody_in(
    app, make_user, login, database
):
    make_user("alice")
    client = login("alice", test_client=app.test_client())
    with database.session() as session:
        accounts.get_user(session, "alice").is_suspended = True
    assert not signed_in(client)
    with client.session_transaction() as cookie:
        cookie["_user_id"] = "not-a-number:1"
    assert not signed_in(client)


def test_a_session_from_before_session_versions_holds_version_zero(app, make_user, database):
    user = make_user("alice")
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(user.id)  # what forge wrote before 0011
        cookie["_fresh"] = True
    assert signed_in(client)
    with database.session() as session:
        accounts.end_sessions(session.get(User, user.id))
    assert not signed_in(client)


# --- a fresh session and CSRF token at sign-in ---------------------------------------------


def test_signing_in_gives_a_fresh_csrf_token_and_refuses_the_old_one(app, make_user, database):
    make_user("alice")
    client = app.test_client()
    before = csrf_from(client.get("/login").get_data(as_text=True))
    anonymous_cookie = session_cookie(client)
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302
    assert session_cookie(client) != anonymous_cookie
    after = csrf_from(client.get("/settings/").get_data(as_text=True))
    assert after != before

    stale = client.post(
        "/settings/", data={"full_name": "Planted", "email": "a@x.org", "csrf_token": before}
    )
    assert stale.status_code == 400
    fresh = client.post(
        "/settings/", data={"full_name": "Alice", "email": "a@x.org", "csrf_token": after}
    )
    assert fresh.status_code == 302
    with database.session() as session:
        assert accounts.get_user(session, "alice").full_name == "Alice"


def test_a_session_planted_before_sign_in_is_not_signed_in_after(app, make_user):
    """Session fixation: the cookie an attacker gave the victim stays anonymous."""
    make_user("alice")
    victim = app.test_client()
    csrf_from(victim.get("/login").get_data(as_text=True))
    planted = session_cookie(victim)
    attacker = with_cookie(app, planted)
    token = csrf_from(victim.get("/login").get_data(as_text=True))
    victim.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert signed_in(victim)
    assert not signed_in(attacker)


def test_signing_up_also_starts_a_fresh_session(app):
    client = app.test_client()
    before = csrf_from(client.get("/signup").get_data(as_text=True))
    response = client.post(
        "/signup",
        data={"username": "ada", "email": "ada@x.org", "password": PASSWORD, "csrf_token": before},
    )
    assert response.status_code == 302
    assert csrf_from(client.get("/settings/").get_data(as_text=True)) != before


# --- Secure cookies and proxies ------------------------------------------------------------


def login_response(application, name="alice", **environ):
    client = application.test_client()
    client.environ_base.update(environ)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})


def test_cookies_are_secure_when_the_base_url_is_https(make_app, make_user):
    make_user("alice")
    https = make_app(base_url="https://forge.example.org")
    response = login_response(https, **{"wsgi.url_scheme": "https"})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session and all("Secure" in c and "HttpOnly" in c for c in session), cookies

    plain = make_app(base_url="http://forge.example.org")
    cookies = login_response(plain).headers.getlist("Set-Cookie")
    assert cookies and not any("Secure" in c for c in cookies)


def test_the_base_url_setting_makes_cookies_secure_from_the_environment(tmp_path):
    settings = Settings.from_env({"FORGE_BASE_URL": "https://forge.example.org/"}, home=tmp_path)
    assert settings.base_url == "https://forge.example.org"


def signup(application, name: str, forwarded_for: str):
    client = application.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    token = csrf_from(client.get("/signup").get_data(as_text=True))
    data = {"username": name, "email": f"{name}@x.org", "password": PASSWORD, "csrf_token": token}
    return client.post("/signup", data=data)


def test_behind_one_proxy_the_forwarded_address_is_the_clients(make_app, settings):
    settings.signup_rate = 1
    proxied = make_app(proxy_count=1, signup_rate=1)
    assert signup(proxied, "one", "203.0.113.1").status_code == 302
    # The proxy's address (127.0.0.1) is the same, but the clients are not.
    assert signup(proxied, "two", "203.0.113.2").status_code == 302
    assert signup(proxied, "three", "203.0.113.1").status_code == 429
    # Only the last hop, which the proxy wrote, counts: a client cannot choose its address.
    assert signup(proxied, "four", "203.0.113.9, 203.0.113.2").status_code == 429


def test_without_a_proxy_setting_forwarded_headers_are_ignored(make_app, settings):
    direct = make_app(proxy_count=0, signup_rate=1)
    assert signup(direct, "one", "203.0.113.1").status_code == 302
    assert signup(direct, "two", "203.0.113.2").status_code == 429  # both 127.0.0.1


def test_behind_a_proxy_the_scheme_and_host_are_the_proxys(make_app, make_user):
    make_user("alice")
    forwarded = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "forge.example.org"}
    proxied = make_app(proxy_count=1).test_client()
    proxied.environ_base.update(forwarded)
    answer = proxied.get("/api/v3/users/alice").get_json()
    assert answer["html_url"] == "https://forge.example.org/alice"
    direct = make_app().test_client()
    direct.environ_base.update(forwarded)
    assert direct.get("/api/v3/users/alice").get_json()["html_url"] == "http://localhost/alice"


def test_proxy_count_setting(tmp_path):
    assert Settings.from_env({}, home=tmp_path).proxy_count == 0
    settings = Settings.from_env({"FORGE_PROXY_COUNT": "2"}, home=tmp_path)
    assert settings.proxy_count == 2
    assert settings.environment()["FORGE_PROXY_COUNT"] == "2"
    assert Settings.from_env({"FORGE_PROXY_COUNT": "0"}, home=tmp_path).proxy_count == 0
    for bad in ("-1", "two"):
        with pytest.raises(ConfigError, match="FORGE_PROXY_COUNT"):
            Settings.from_env({"FORGE_PROXY_COUNT": bad}, home=tmp_path)
