"""Signing up, signing in and out, throttling, and CSRF, through the real forms."""

from conftest import PASSWORD, csrf_from, form_post


def test_signup_creates_an_account_and_signs_in(client):
    token = csrf_from(client.get("/signup").get_data(as_text=True))
    response = client.post(
        "/signup",
        data={
            "username": "ada",
            "email": "ada@example.org",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Your repositories" in home and "ada" in home


def test_first_account_administers_the_forge_and_later_ones_do_not(client, app):
    for name in ("first", "second"):
        c = app.test_client()
        token = csrf_from(c.get("/signup").get_data(as_text=True))
        c.post(
            "/signup",
            data={
                "username": name,
                "email": f"{name}@x.org",
                "password": PASSWORD,
                "csrf_token": token,
            },
        )
        assert (c.get("/admin/").status_code == 200) == (name == "first")


def test_signup_refuses_bad_and_reserved_names_and_duplicates(client, make_user):
    make_user("taken")
    for name, message in [
        ("-dash", "invalid name"),
        ("a" * 40, "invalid name"),
        ("login", "reserved"),
        ("API", "reserved"),
        ("TAKEN", "already exists"),
    ]:
        token = csrf_from(client.get("/signup").get_data(as_text=True))
        response = client.post(
            "/signup",
            data={
                "username": name,
                "email": "x@example.org",
                "password": PASSWORD,
                "csrf_token": token,
            },
        )
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # still anonymous


def test_signup_can_be_closed_by_an_admin(app, make_user, login):
    make_user("root", admin=True)
    admin = login("root", test_client=app.test_client())
    form_post(admin, "/admin/", "/admin/", {})  # checkbox unticked: sign-up off
    visitor = app.test_client()
    assert visitor.get("/signup").status_code == 403
    assert "Sign-up is closed" in visitor.get("/signup").get_data(as_text=True)
    assert "/signup" not in visitor.get("/").get_data(as_text=True)


def test_login_with_wrong_password_fails_and_right_one_works(client, make_user):
    make_user("bob")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    bad = client.post(
        "/login", data={"username": "bob", "password": "nope-nope", "csrf_token": token}
    )
    assert bad.status_code == 401
    assert "Incorrect username or password" in bad.get_data(as_text=True)
    good = client.post(
        "/login", data={"username": "BOB", "password": PASSWORD, "csrf_token": token}
    )
    assert good.status_code == 302
    assert "Sign out" in client.get("/").get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("carol")
    response = client.post("/login", data={"username": "carol", "password": PASSWORD})
    assert response.status_code == 400
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_next_parameter_only_leads_to_local_paths(client, make_user):
    make_user("dave")
    for target, expected in [
        ("/settings/tokens", "/settings/tokens"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
    ]:
        c = client.application.test_client()
        token = csrf_from(c.get("/login").get_data(as_text=True))
        response = c.post(
            "/login",
            query_string={"next": target},
            data={"username": "dave", "password": PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected


def test_repeated_failures_throttle_the_account_from_that_address_even_with_the_right_password(
    client, make_user
):
    # From another address the right password still works: tests/test_login_throttle.py.
    make_user("erin")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        r = client.post(
            "/login", data={"username": "erin", "password": "wrong-pass", "csrf_token": token}
        )
        assert r.status_code == 401
    locked = client.post(
        "/login", data={"username": "erin", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert "too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert "Retry-After" in locked.headers


def test_failures_are_throttled_per_address_across_accounts(client, make_user):
    make_user("frank")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for i in range(8):
        client.post(
            "/login", data={"username": f"ghost{i}", "password": "x" * 9, "csrf_token": token}
        )
    r = client.post("/login", data={"username": "frank", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429


def test_logout_needs_a_post_with_csrf(client, make_user, login):
    make_user("gina")
    login("gina")
    assert client.get("/logout").status_code in (404, 405)  # a link cannot sign you out
    assert client.post("/logout").status_code == 400
    assert "Sign out" in client.get("/").get_data(as_text=True)
    form_post(client, "/", "/logout", {})
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_passwords_are_stored_hashed(database, make_user):
    from forge.models import User

    make_user("hank")
    with database.session() as session:
        stored = session.query(User).filter_by(name="hank").one().password_hash
    assert PASSWORD not in stored and stored.startswith("$argon2")


def test_pages_carry_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
