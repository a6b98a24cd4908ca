"""Mail from forge, caught by a real SMTP server on 127.0.0.1: address verification, password
reset, unique addresses, and what happens with no FORGE_SMTP_URL (the admin sees the links).
The mail is sent by a real rq worker, after the commit of what caused it."""

from __future__ import annotations

import logging
import ssl
import subprocess
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import PASSWORD, csrf_from, form_post, free_port
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from support.mail import SMTP_USER, Mailbox, link_in

from forge.accounts import users as accounts
from forge.config import ConfigError, parse_smtp_url
from forge.db import Database, utcnow
from forge.models import AccountLink, MailMessage, User


def sign_up(client, name: str, email: str, password: str = PASSWORD):
    return form_post(client, "/signup", "/signup",
                     {"username": name, "email": email, "password": password})  # fmt: skip


def user_row(database, name: str) -> User:
    with database.session() as session:
        user = accounts.get_user(session, name)
        session.expunge(user)
        return user


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# --- FORGE_SMTP_URL ---------------------------------------------------------------------------


def test_smtp_urls_as_admins_write_them():
    plain = parse_smtp_url("smtp://mailer:s%40cret%3A1@mail.example.org:2525?starttls=1")
    assert (plain.host, plain.port, plain.username, plain.password) == (
        "mail.example.org", 2525, "mailer", "s@cret:1")  # fmt: skip
    assert (plain.tls, plain.starttls, plain.sender) == (False, True, "forge@mail.example.org")
    tls = parse_smtp_url("smtps://relay.example.org?from=noreply@example.org")
    assert (tls.port, tls.tls, tls.username, tls.sender) == (465, True, "", "noreply@example.org")
    assert parse_smtp_url("smtp://localhost").port == 25
    assert parse_smtp_url("") is None
    for bad, says in [
        ("http://mail.example.org", "smtp://"),
        ("smtp://u:secretpw@mail.example.org:port", "port"),
        ("smtp://mail.example.org?tls=1", "unknown option"),
        ("smtps://mail.example.org?starttls=1", "TLS already"),
    ]:
        with pytest.raises(ConfigError, match=says) as refused:
            parse_smtp_url(bad)
        assert "secretpw" not in str(refused.value)  # the password never shows in an error


@pytest.mark.parametrize("kind", ["starttls", "smtps"])
def test_mail_goes_over_tls_to_a_server_whose_certificate_is_checked(
    kind, client, settings, send_mail_now, tmp_path, monkeypatch
):
    """smtp://...?starttls=1 upgrades the connection, smtps:// speaks TLS from the start; the
    server's certificate is checked against the system's trust store (here: SSL_CERT_FILE)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, port = Mailbox(), free_port()
    options = {"tls_context": context, "require_starttls": True} if kind == "starttls" else {
        "ssl_context": context}  # fmt: skip
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        url = f"smtp://127.0.0.1:{port}?starttls=1" if kind == "starttls" else (
            f"smtps://127.0.0.1:{port}")  # fmt: skip
        settings.smtp = parse_smtp_url(url)
        assert sign_up(client, "dora", "dora@example.org").status_code == 302
        send_mail_now()
        mail = mailbox.wait_for("dora@example.org", "Verify your e-mail address")
        assert mail["From"] == "forge@127.0.0.1"
    finally:
        controller.stop()


# --- verification -----------------------------------------------------------------------------


def test_a_new_account_verifies_its_address_through_the_mailed_link(
    app, client, database, mail_settings, smtp_server, send_mail_now, make_token, github
):
    assert sign_up(client, "alice", "Alice@Example.org").status_code == 302
    token = make_token("alice", scopes="user")

    def api_emails():
        response = client.get("/api/v3/user/emails", headers={"Authorization": f"token {token}"})
        return response.get_json()

    assert api_emails() == [{"email": "Alice@Example.org", "primary": True, "verified": False,
                             "visibility": "private"}]  # fmt: skip
    profile = client.get("/settings/").get_data(as_text=True)
    assert "Not verified yet" in profile
    send_mail_now()
    mail = smtp_server.wait_for("Alice@Example.org", "Verify your e-mail address")
    assert smtp_server.logins == [SMTP_USER]  # the user and password of FORGE_SMTP_URL
    assert mail["From"] == "forge@example.org"
    link = link_in(mail, "/verify-email/")
    opened = client.get(path_of(link))
    assert opened.status_code == 302
    assert "Verified." in client.get("/settings/").get_data(as_text=True)
    assert api_emails()[0]["verified"] is True
    (seen_by_pygithub,) = github(token).get_user().get_emails()
    assert (seen_by_pygithub.email, seen_by_pygithub.verified) == ("Alice@Example.org", True)
    # A link works once.
    again = client.get(path_of(link))
    assert again.status_code == 400 and "expired or was used" in again.get_data(as_text=True)
    with database.session() as session:
        stored = session.scalars(select(AccountLink.token_hash)).all()
        assert link.rsplit("/", 1)[1] not in stored  # only a keyed hash of it is kept
        assert session.scalar(select(MailMessage.sent_at)) is not None


def test_a_changed_address_is_unverified_until_its_link_is_opened_and_an_old_link_fails(
    client, database, login, make_user, mail_settings, smtp_server, send_mail_now
):
    make_user("alice")
    login("alice")
    resend = form_post(client, "/settings/", "/settings/email/verify", {})
    assert resend.status_code == 302
    send_mail_now()
    first_link = link_in(smtp_server.wait_for("alice@example.org", "Verify"), "/verify-email/")
    changed = form_post(client, "/settings/", "/settings/",
                        {"full_name": "Alice", "email": "alice@new.example"})  # fmt: skip
    assert changed.status_code == 302
    # The link sent to the old address no longer verifies anything.
    stale = client.get(path_of(first_link))
    assert stale.status_code == 400 and "no longer has" in stale.get_data(as_text=True)
    assert user_row(database, "alice").email_verified is False
    send_mail_now()
    new_link = link_in(smtp_server.wait_for("alice@new.example", "Verify"), "/verify-email/")
    assert client.get(path_of(new_link)).status_code == 302
    assert user_row(database, "alice").email_verified is True


def test_without_smtp_the_links_wait_for_site_admins_and_are_logged(
    app, client, database, login, make_user, caplog
):
    make_user("root", admin=True)
    caplog.set_level(logging.WARNING, logger="forge.accounts.mail")
    assert sign_up(client, "bob", "bob@example.org").status_code == 302
    assert "/verify-email/" in caplog.text and "no FORGE_SMTP_URL" in caplog.text
    # Bob (signed in after sign-up) is no admin: the page does not exist for him.
    assert client.get("/admin/mail").status_code == 404
    admin = app.test_client()
    login("root", test_client=admin)
    page = admin.get("/admin/mail").get_data(as_text=True)
    assert "bob@example.org" in page and "No <code>FORGE_SMTP_URL</code>" in page
    link = link_in(page, "/verify-email/")
    assert client.get(path_of(link)).status_code == 302
    assert user_row(database, "bob").email_verified is True
    with database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM outbox_messages")) == 0


def test_mail_waits_when_the_smtp_server_is_down_and_the_sign_up_still_works(
    client, database, mail_settings, send_mail_now, smtp_server
):
    # Nothing listens at this port: the worker's try fails, the request never waited on it.
    mail_settings.smtp = parse_smtp_url("smtp://127.0.0.1:9?from=forge@example.org")
    assert sign_up(client, "carol", "carol@example.org").status_code == 302
    send_mail_now()
    with database.session() as session:
        message = session.scalars(select(MailMessage)).one()
        assert message.sent_at is None and message.attempts == 1
        assert "Connection refused" in message.last_error or "Errno" in message.last_error
    assert smtp_server.to("carol@example.org") == []


# --- unique addresses ---------------------------------------------------------------------------


def test_an_address_is_one_accounts_regardless_of_case(client, database, login, make_user, app):
    make_user("alice")  # alice@example.org
    refused = sign_up(client, "mallory", "ALICE@example.ORG")
    assert refused.status_code == 400
    assert "already used by another account" in refused.get_data(as_text=True)
    with database.session() as session:
        assert accounts.find_user(session, "mallory") is None
        # The refused sign-up rolled back its verification mail with it.
        assert session.scalar(text("SELECT count(*) FROM mail_messages")) == 0
    make_user("bob")
    bob = app.test_client()
    login("bob", test_client=bob)
    taken = form_post(bob, "/settings/", "/settings/", {"email": "Alice@Example.org"})
    assert taken.status_code == 400
    assert "already used by another account" in taken.get_data(as_text=True)
    assert user_row(database, "bob").email == "bob@example.org"
    # Another spelling of one's own address is no change of address: it stays verified.
    with database.session() as session:
        session.execute(update(User).where(User.name == "bob").values(email_verified=True))
    respelled = form_post(bob, "/settings/", "/settings/", {"email": "Bob@Example.org"})
    assert respelled.status_code == 302
    assert (user_row(database, "bob").email, user_row(database, "bob").email_verified) == (
        "Bob@Example.org", True)  # fmt: skip


def test_the_upgrade_keeps_the_oldest_accounts_address_and_clears_the_others(
    tmp_path, caplog, database_url
):
    database = Database(database_url)
    database.upgrade("0013")
    with database.engine.begin() as connection:
        for name, address in [
            ("old", "Shared@Example.org"),
            ("newer", "shared@example.org"),
            ("other", "other@example.org"),
            ("newest", "SHARED@example.org"),
        ]:
            connection.execute(text(
                "INSERT INTO users (name, lower_name, email, full_name, password_hash, is_admin, "
                "is_suspended, is_pending, reputation, session_version, created_at, updated_at) "
                "VALUES (:name, :name, :email, '', 'x', false, false, false, 0, 0, :now, :now)"
            ), {"name": name, "email": address, "now": utcnow()})  # fmt: skip
    caplog.set_level(logging.WARNING, logger="forge.migrations")
    database.upgrade()  # through 0014 (which clears) and every later one, to the head
    with database.session() as session:
        emails = dict(session.execute(select(User.name, User.email)).all())
        assert emails == {"old": "Shared@Example.org", "newer": "", "other": "other@example.org",
                          "newest": ""}  # fmt: skip
        assert session.scalar(select(User.email_verified).where(User.name == "old")) is False
        # The constraint holds from now on, whatever the case.
        session.add(User(name="x", lower_name="x", email="OTHER@example.org", password_hash="x"))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    assert "newer" in caplog.text and "newest" in caplog.text and "cleared" in caplog.text
    database.dispose()


# --- password reset ------------------------------------------------------------------------------


def test_forgot_password_mails_a_single_use_link_that_ends_every_session(
    app, client, database, login, make_user, mail_settings, smtp_server, send_mail_now
):
    make_user("alice")
    elsewhere = app.test_client()
    login("alice", test_client=elsewhere)
    assert elsewhere.get("/settings/").status_code == 200

    def forgot(address: str):
        page = client.get("/password/forgot").get_data(as_text=True)
        answer = client.post("/password/forgot", data={"csrf_token": csrf_from(page),
                                                       "email": address})  # fmt: skip
        return answer, client.get(answer.headers["Location"]).get_data(as_text=True)

    known, known_page = forgot("ALICE@example.org")
    unknown, unknown_page = forgot("nobody@example.org")
    # Whether an account has the address is not for the asker to know.
    assert known.status_code == unknown.status_code == 302
    assert "If an account has that address" in known_page
    assert "If an account has that address" in unknown_page
    send_mail_now()
    mail = smtp_server.wait_for("alice@example.org", "Reset your forge password")
    assert smtp_server.to("nobody@example.org") == []
    link = path_of(link_in(mail, "/password/reset/"))
    page = client.get(link)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    mismatch = client.post(
        link,
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "password": "a new password",
            "confirm": "another",
        },
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.get_data(as_text=True)
    done = client.post(
        link,
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "password": "a new password",
            "confirm": "a new password",
        },
    )
    assert done.status_code == 302
    # The other session is over, the old password no longer works, the new one does.
    assert elsewhere.get("/settings/").status_code == 302
    assert app.test_client().post("/login").status_code == 400
    fresh = app.test_client()
    login("alice", password="a new password", test_client=fresh)
    with database.session() as session:
        user = accounts.get_user(session, "alice")
        assert not accounts.password_matches(user, PASSWORD)
        assert user.email_verified  # the mail reached its owner
    # The link worked once.
    used = client.get(link, follow_redirects=True).get_data(as_text=True)
    assert "expired or was used" in used


def test_an_expired_reset_link_changes_nothing(
    client, database, make_user, mail_settings, smtp_server, send_mail_now
):
    make_user("alice")
    form_post(client, "/password/forgot", "/password/forgot", {"email": "alice@example.org"})
    send_mail_now()
    link = path_of(link_in(smtp_server.wait_for("alice@example.org", "Reset"), "/password/reset/"))
    with database.session() as session:  # an hour and a minute later
        session.execute(update(AccountLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    answer = client.get(link, follow_redirects=True)
    assert "expired or was used" in answer.get_data(as_text=True)
    assert answer.request.path == "/password/forgot"
    with database.session() as session:
        assert accounts.password_matches(accounts.get_user(session, "alice"), PASSWORD)


def test_reset_mails_to_one_account_are_limited(
    client, database, make_user, mail_settings, smtp_server, send_mail_now
):
    make_user("alice")
    for _ in range(5):
        form_post(client, "/password/forgot", "/password/forgot", {"email": "alice@example.org"})
    send_mail_now()
    smtp_server.wait_for("alice@example.org", "Reset", count=3)
    with database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM mail_messages")) == 3
