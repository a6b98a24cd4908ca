"""Accounts in a real browser (Chromium, through Playwright), with forge's mail caught by a
real SMTP server: signing up and opening the verification link from the mail, "forgot
password" to a new password through the mailed link, and setting up two-factor sign-in from
its QR page, then signing in with a code pyotp computes as a phone would. Screenshots land in
tests/artifacts/."""

from __future__ import annotations

import time

import pyotp
from conftest import PASSWORD
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console
from support.mail import link_in


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context.new_page()


def test_sign_up_then_verify_the_address_from_the_mail(
    browser, live_server, mail_settings, smtp_server, send_mail_now
):
    page = new_page(browser)
    errors = watch_console(page)
    page.goto(f"{live_server}/signup")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator(".who")).to_have_text("alice")
    page.goto(f"{live_server}/settings/")
    expect(page.locator("main")).to_contain_text("Not verified yet")
    shot(page, "accounts-email-unverified")

    send_mail_now()
    mail = smtp_server.wait_for("alice@example.org", "Verify your e-mail address")
    page.goto(link_in(mail, "/verify-email/"))
    expect(page.locator("main")).to_contain_text("alice@example.org is verified")
    expect(page.locator("main")).to_contain_text("Verified.")
    shot(page, "accounts-email-verified")
    assert errors == []


def test_forgot_password_through_the_mailed_link(
    browser, live_server, make_user, mail_settings, smtp_server, send_mail_now
):
    make_user("alice")
    page = new_page(browser)
    errors = watch_console(page)
    page.goto(f"{live_server}/login")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "alice@example.org")
    shot(page, "accounts-forgot-password")
    page.click("main button[type=submit]")
    expect(page.locator("body")).to_contain_text("If an account has that address")

    send_mail_now()
    mail = smtp_server.wait_for("alice@example.org", "Reset your forge password")
    page.goto(link_in(mail, "/password/reset/"))
    page.fill("input[name=password]", "a brand new password")
    page.fill("input[name=confirm]", "a brand new password")
    shot(page, "accounts-reset-password")
    page.click("main button[type=submit]")
    expect(page.locator("body")).to_contain_text("Your password is changed")
    sign_in(page, live_server, "alice", "a brand new password")
    assert errors == []


def test_two_factor_set_up_from_the_qr_page_and_sign_in_with_a_code(
    browser, live_server, make_user
):
    make_user("alice")
    page = new_page(browser)
    errors = watch_console(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/settings/two-factor")
    page.click("text=Set up two-factor sign-in")
    expect(page.locator(".qr-code svg")).to_be_visible()
    shot(page, "accounts-two-factor-qr")
    secret = page.locator(".totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.fill("input[name=code]", totp.now())
    page.click("text=Turn on")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    shot(page, "accounts-two-factor-recovery-codes")

    other = new_page(browser)
    other.goto(f"{live_server}/login")
    other.fill("input[name=username]", "alice")
    other.fill("input[name=password]", PASSWORD)
    other.click("main button[type=submit]")
    expect(other.locator("h1")).to_have_text("Two-factor sign-in")
    shot(other, "accounts-two-factor-sign-in")
    other.fill("input[name=code]", totp.at(time.time() + 30))  # the next code: the first is used
    other.click("main button[type=submit]")
    expect(other.locator(".who")).to_have_text("alice")
    assert errors == []
