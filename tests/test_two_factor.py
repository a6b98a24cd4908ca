"""Two-factor sign-in with TOTP: set up in the settings (QR code, confirmed by a code),
asked for after the password, recovery codes that work once, turned off only with a code;
git and the API take tokens as before and refuse the password alone. Codes come from pyotp,
as an authenticator app computes them."""

from __future__ import annotations

import re
import time

import pyotp
import requests
from conftest import PASSWORD, authed, csrf_from, form_post

from forge.accounts import two_factor
from forge.accounts import users as accounts


def code_at(secret: str, seconds_from_now: float = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + seconds_from_now)


def enrol_in_settings(client) -> tuple[str, list[str]]:
    """Set two-factor up through the settings pages; returns the secret and recovery codes."""
    started = form_post(client, "/settings/two-factor", "/settings/two-factor/start", {})
    assert started.status_code == 302
    page = client.get("/settings/two-factor").get_data(as_text=True)
    assert "<svg" in page  # the QR code, drawn on the server
    uri = re.search(r'class="otpauth-uri">([^<]+)<', page).group(1).replace("&amp;", "&")
    secret = pyotp.parse_uri(uri).secret
    assert "issuer=forge" in uri
    confirmed = client.post(
        "/settings/two-factor/confirm",
        data={"csrf_token": csrf_from(page), "code": code_at(secret)},
    )
    assert confirmed.status_code == 200
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", confirmed.get_data(as_text=True))
    assert len(set(codes)) == 10
    return secret, codes


def password_step(client, name: str = "alice", password: str = PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login", data={"csrf_token": csrf_from(page), "username": name, "password": password}
    )


def code_step(client, code: str):
    page = client.get("/login/two-factor").get_data(as_text=True)
    return client.post("/login/two-factor", data={"csrf_token": csrf_from(page), "code": code})


def signed_in(client) -> bool:
    return client.get("/settings/").status_code == 200


def test_sign_in_asks_for_the_code_after_the_password_and_a_code_works_once(
    app, client, login, make_user
):
    make_user("alice")
    login("alice")
    # Set up but not confirmed: not in force, the password alone still signs in.
    form_post(client, "/settings/two-factor", "/settings/two-factor/start", {})
    half = app.test_client()
    assert password_step(half).headers["Location"] == "/"
    secret, _codes = enrol_in_settings(client)
    assert "Signing in asks for a code" in client.get("/settings/two-factor").get_data(as_text=True)

    browser = app.test_client()
    answer = password_step(browser)
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/two-factor"
    assert not signed_in(browser)  # the password alone signed nobody in
    wrong = code_step(browser, "000000" if code_at(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    # The code that confirmed the set-up was used already.
    assert code_step(browser, code_at(secret)).status_code == 401
    next_code = code_at(secret, 30)  # the app's next code (the clock may run a step ahead)
    assert code_step(browser, next_code).status_code == 302
    assert signed_in(browser)
    # Seen over a shoulder, the same code does not sign anyone in again.
    thief = app.test_client()
    password_step(thief)
    assert code_step(thief, next_code).status_code == 401
    assert not signed_in(thief)
    # Without the password step first, the code page sends one back to sign in.
    assert app.test_client().get("/login/two-factor").headers["Location"] == "/login"


def test_a_recovery_code_signs_in_once_and_turning_off_needs_a_code(app, client, login, make_user):
    make_user("alice")
    login("alice")
    _secret, codes = enrol_in_settings(client)

    phone_lost = app.test_client()
    password_step(phone_lost)
    used = code_step(phone_lost, codes[0].upper())  # as typed, in any case
    assert used.status_code == 302 and signed_in(phone_lost)
    assert "9 recovery codes left" in phone_lost.get("/settings/two-factor").get_data(as_text=True)
    again = app.test_client()
    password_step(again)
    assert code_step(again, codes[0]).status_code == 401 and not signed_in(again)

    refused = form_post(phone_lost, "/settings/two-factor", "/settings/two-factor/disable",
                        {"code": "12345-67890"}, follow_redirects=True)  # fmt: skip
    assert "not right" in refused.get_data(as_text=True)
    still = app.test_client()
    assert password_step(still).headers["Location"] == "/login/two-factor"
    off = form_post(phone_lost, "/settings/two-factor", "/settings/two-factor/disable",
                    {"code": codes[1]}, follow_redirects=True)  # fmt: skip
    assert "Two-factor sign-in is off" in off.get_data(as_text=True)
    assert password_step(app.test_client()).headers["Location"] == "/"


def test_git_and_the_api_take_a_token_and_refuse_the_password_of_a_two_factor_account(
    hosted_repo, database, git, tmp_path, live_server
):
    repo = hosted_repo("alice", "secret", private=True)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        secret = two_factor.begin_enrolment(session, alice)
        two_factor.confirm_enrolment(session, alice, code_at(secret))
    with_token = git.run("clone", "-q", repo.push_url, str(tmp_path / "by-token"), check=False)
    assert with_token.returncode == 0, with_token.stderr
    with_password = git.run("clone", "-q", authed(repo.url, "alice", PASSWORD),
                            str(tmp_path / "by-password"), check=False)  # fmt: skip
    assert with_password.returncode != 0
    assert "use a personal access token" in with_password.stderr
    assert not (tmp_path / "by-password").exists()

    api = f"{live_server}/api/v3/user"
    by_password = requests.get(api, auth=("alice", PASSWORD), timeout=30)
    assert by_password.status_code == 401
    assert "personal access token" in by_password.json()["message"]
    by_token = requests.get(api, auth=("alice", repo.token), timeout=30)
    assert by_token.status_code == 200 and by_token.json()["login"] == "alice"


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(app, client, login, make_user):
    make_user("alice")
    login("alice")
    secret, old_codes = enrol_in_settings(client)
    refused = form_post(client, "/settings/two-factor", "/settings/two-factor/recovery-codes",
                        {"code": "000000"}, follow_redirects=True)  # fmt: skip
    assert "not right" in refused.get_data(as_text=True)
    made = form_post(client, "/settings/two-factor", "/settings/two-factor/recovery-codes",
                     {"code": code_at(secret, 30)})  # fmt: skip
    new_codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", made.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    old = app.test_client()
    password_step(old)
    assert code_step(old, old_codes[0]).status_code == 401
    assert code_step(old, new_codes[0]).status_code == 302 and signed_in(old)
