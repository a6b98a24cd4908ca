"""Who may sign up: so many accounts an hour from one address (FORGE_SIGNUP_RATE), sign-up
closed (FORGE_SIGNUP=closed), and accounts awaiting an admin's approval (FORGE_SIGNUP=approval).
"""

from __future__ import annotations

import html
import threading

import requests
from conftest import PASSWORD, csrf_from, forge_cli, form_post
from sqlalchemy import func, select

from forge.models import User


def sign_up(app, name: str, password: str = PASSWORD, address: str = "127.0.0.1", **fields):
    """Fill in the sign-up form as a new visitor from `address`; returns (response, client)."""
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = address
    token = csrf_from(visitor.get("/login").get_data(as_text=True))
    data = {"username": name, "email": f"{name}@example.org", "password": password, **fields}
    response = visitor.post("/signup", data={**data, "csrf_token": token})
    return response, visitor


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def user_count(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(User))


def sign_in(app, name: str, password: str = PASSWORD):
    visitor = app.test_client()
    token = csrf_from(visitor.get("/login").get_data(as_text=True))
    response = visitor.post(
        "/login", data={"username": name, "password": password, "csrf_token": token}
    )
    return response, visitor


# --- the rate per address -------------------------------------------------------------------


def test_an_address_creates_five_accounts_an_hour_and_the_sixth_is_refused(app, database):
    for i in range(5):
        response, _ = sign_up(app, f"user{i}")
        assert response.status_code == 302, page_text(response)

    refused, _ = sign_up(app, "user5")

    assert refused.status_code == 429
    text = page_text(refused)
    assert "one address may create 5 accounts an hour" in text
    assert "Try again in about 60 minutes" in text
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert user_count(database) == 5
    # Knocking again does not help, and another address is counted on its own.
    assert sign_up(app, "user5")[0].status_code == 429
    assert sign_up(app, "user5", address="192.0.2.7")[0].status_code == 302
    assert user_count(database) == 6


def test_a_form_with_errors_does_not_use_up_the_budget(app, database, settings, make_user):
    settings.signup_rate = 2
    make_user("taken")
    for name, password, email in [
        ("short", "short", "short@example.org"),
        ("taken", PASSWORD, "taken2@example.org"),
        ("bademail", PASSWORD, "not-an-address"),
        ("login", PASSWORD, "reserved@example.org"),
    ]:
        response, _ = sign_up(app, name, password, email=email)
        assert response.status_code == 400, name

    assert sign_up(app, "first")[0].status_code == 302
    assert sign_up(app, "second")[0].status_code == 302
    refused, _ = sign_up(app, "third")
    assert refused.status_code == 429
    assert "one address may create 2 accounts an hour" in page_text(refused)
    with database.session() as session:
        assert sorted(session.scalars(select(User.name))) == ["first", "second", "taken"]


def test_parallel_sign_ups_cannot_race_past_the_limit(live_server, database, settings):
    settings.signup_rate = 3
    visitors = []
    for _ in range(8):
        visitor = requests.Session()
        visitor.csrf = csrf_from(visitor.get(f"{live_server}/login", timeout=30).text)
        visitors.append(visitor)
    start = threading.Barrier(len(visitors))
    statuses = [None] * len(visitors)

    def go(i: int):
        start.wait()
        response = visitors[i].post(
            f"{live_server}/signup",
            data={
                "username": f"racer{i}",
                "email": f"racer{i}@example.org",
                "password": PASSWORD,
                "csrf_token": visitors[i].csrf,
            },
            allow_redirects=False,
            timeout=60,
        )
        statuses[i] = response.status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(visitors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert sorted(statuses) == [302] * 3 + [429] * 5
    assert user_count(database) == 3


def test_admins_are_not_limited_by_the_rate(app, database, settings, make_user):
    settings.signup_rate = 1
    assert sign_up(app, "visitor")[0].status_code == 302
    for i in range(3):  # as `forge user create` does, from the same machine
        make_user(f"made{i}")
    assert user_count(database) == 4
    assert sign_up(app, "another")[0].status_code == 429


# --- closed ---------------------------------------------------------------------------------


def test_closed_sign_up_creates_nothing_and_admins_still_create_accounts(
    app, client, database, settings
):
    settings.signup_mode = "closed"

    page = client.get("/signup")
    assert page.status_code == 403
    assert "Sign-up is closed" in page_text(page)
    login_page = page_text(client.get("/login"))
    assert "/signup" not in login_page and "Create an account" not in login_page
    response, _ = sign_up(app, "intruder")
    assert response.status_code == 403
    assert user_count(database) == 0

    created = forge_cli(
        "user", "create", "root", "--email", "root@example.org", "--admin", "--password-stdin",
        home=settings.home, env=settings.environment(), input=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert sign_in(app, "root")[0].status_code == 302


# --- approval -------------------------------------------------------------------------------


def test_approval_end_to_end(app, database, settings, api, make_token, live_server):
    settings.signup_mode = "approval"
    page = page_text(app.test_client().get("/signup"))
    assert "An administrator approves each new account" in page

    # The first account administers the forge and never waits.
    response, root = sign_up(app, "root")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert root.get("/admin/users").status_code == 200

    response, newcomer = sign_up(app, "newbie")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "awaits an administrator's approval" in page_text(newcomer.get("/login"))
    assert "Sign out" not in page_text(newcomer.get("/"))

    refused, _ = sign_in(app, "newbie")
    assert refused.status_code == 403
    assert "Your account awaits an administrator's approval" in page_text(refused)
    wrong, _ = sign_in(app, "newbie", "wrong password")  # says nothing to a guesser
    assert wrong.status_code == 401 and "approval" not in page_text(wrong)
    token = make_token("newbie")  # an admin could make one with `forge token create`
    assert api("GET", "/user", token).status_code == 401
    git_answer = requests.get(
        f"{live_server}/root/any.git/info/refs?service=git-upload-pack",
        auth=("newbie", PASSWORD),
        timeout=30,
    )
    assert git_answer.status_code == 403 and "approval" in git_answer.text

    users_page = page_text(root.get("/admin/users"))
    assert "Users awaiting approval" in users_page and "newbie@example.org" in users_page
    assert root.post("/admin/users/newbie/approve").status_code == 400  # no CSRF token
    assert sign_in(app, "newbie")[0].status_code == 403
    approved = form_post(root, "/admin/users", "/admin/users/newbie/approve", {})
    assert approved.status_code == 302
    after = page_text(root.get("/admin/users"))
    assert "newbie can sign in now" in after and "newbie@example.org" not in after

    assert sign_in(app, "newbie")[0].status_code == 302
    me = api("GET", "/user", token)
    assert me.status_code == 200 and me.json()["login"] == "newbie"


def test_a_rejected_account_is_deleted_and_its_name_free_again(app, database, settings):
    settings.signup_mode = "approval"
    _, root = sign_up(app, "root")
    sign_up(app, "spammer")

    rejected = form_post(root, "/admin/users", "/admin/users/spammer/reject", {})

    assert rejected.status_code == 302
    with database.session() as session:
        assert session.scalar(select(User).where(User.name == "spammer")) is None
    response, _ = sign_in(app, "spammer")
    assert response.status_code == 401
    assert "Incorrect username or password" in page_text(response)
    # Only accounts awaiting approval can be approved or rejected.
    assert form_post(root, "/admin/users", "/admin/users/root/reject", {}).status_code == 404


def test_only_admins_see_and_approve_pending_accounts(app, settings, login):
    settings.signup_mode = "approval"
    sign_up(app, "root")
    settings.signup_mode = "open"
    _, member = sign_up(app, "member")
    settings.signup_mode = "approval"
    sign_up(app, "waiting")

    assert member.get("/admin/users").status_code == 404
    token = csrf_from(member.get("/").get_data(as_text=True))
    approving = member.post("/admin/users/waiting/approve", data={"csrf_token": token})
    assert approving.status_code == 404
    assert sign_in(app, "waiting")[0].status_code == 403
    assert app.test_client().get("/admin/users").status_code == 302  # to the sign-in page
