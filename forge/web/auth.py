"""Signing in, signing out and signing up."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from forge.accounts import email_links
from forge.accounts import users as accounts
from forge.errors import Invalid, Throttled
from forge.web.context import db, redis_connection, settings, viewer
from forge.web.forms import LoginForm, PostForm, SignupForm

bp = Blueprint("auth", __name__)

# The session's note that the password was right and the second factor is due (who, their
# session version, until when, and where to go next); forge.web.two_factor asks for it.
PENDING_SECOND_FACTOR = "two_factor_pending"
SECOND_FACTOR_SECONDS = 300


def safe_next(target: str | None) -> str:
    """Follow ?next= only to a path on this site, never to another host."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    if "\\" in target or any(ord(c) < 0x20 for c in target):
        return url_for("home.index")
    return target


def _external(path: str) -> str:
    from forge.web import external_url

    return external_url(path)


def start_session(user) -> None:
    """Sign `user` in on a fresh session: nothing of the one before (its CSRF token, whatever
    a planted cookie held) carries over into the signed-in one."""
    session.clear()
    g.pop("csrf_token", None)  # flask-wtf's token for this request, made from the old session
    login_user(user)


def end_session() -> None:
    """Sign out, ending the session on the server too: a copy of its cookie no longer signs
    anyone in (this raises the session version, so it signs the account out everywhere)."""
    user = viewer()
    if user is not None:
        accounts.end_sessions(user)
    logout_user()
    session.clear()
    g.pop("csrf_token", None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if viewer() is not None:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            credentials = accounts.check_credentials(
                db(),
                form.username.data.strip(),
                form.password.data,
                client_ip=request.remote_addr or "unknown",
                limits=settings().login_limits,
                connection=redis_connection(),
            )
        except accounts.AwaitingApproval:
            flash(
                "Your account awaits an administrator's approval; you can sign in once it is "
                "approved.",
                "error",
            )
            return render_template("login.html", form=form), 403
        if credentials is not None and credentials.user.two_factor_enabled:
            user = credentials.user
            session.clear()  # nobody is signed in until the code is right
            session[PENDING_SECOND_FACTOR] = {
                "user": user.id,
                "version": user.session_version or 0,
                "until": time.time() + SECOND_FACTOR_SECONDS,
                "next": safe_next(request.args.get("next")),
            }
            return redirect(url_for("two_factor.sign_in"))
        if credentials is not None:
            start_session(credentials.user)
            return redirect(safe_next(request.args.get("next")))
        flash("Incorrect username or password.", "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("home.index"))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    mode = accounts.signup_mode(db(), settings().signup_mode)
    if mode == "closed":
        return render_template("signup_closed.html"), 403
    form = SignupForm()
    status = 200
    if form.validate_on_submit():
        # Counted before the account is made, so parallel requests cannot race past the limit,
        # and given back below when none was made.
        address = request.remote_addr or "unknown"
        try:
            accounts.reserve_signup(redis_connection(), address, settings().signup_rate)
        except Throttled as exc:
            flash(exc.message, "error")
            page = render_template("signup.html", form=form, mode=mode)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        user = None
        try:
            made = accounts.create_user(
                db(),
                form.username.data.strip(),
                form.email.data,
                form.password.data,
                pending=mode == "approval",
            )
            # In the account's transaction: no account, no mail; and the reverse.
            email_links.send_verification(
                db(), made, settings().smtp, _external(""), settings().secret_key
            )
            db().commit()
            user = made
        except Invalid as exc:
            db().rollback()
            getattr(form, exc.field or "username", form.username).errors.append(exc.message)
            status = 400
        finally:
            if user is None:  # a form with errors (or a failure) creates nothing and is free
                accounts.release_signup(redis_connection(), address)
        if user is not None and user.is_pending:
            flash(
                "Your account is created and awaits an administrator's approval; you can sign "
                "in once it is approved.",
                "info",
            )
            return redirect(url_for("auth.login"))
        if user is not None:
            start_session(user)
            flash(f"Welcome to forge, {user.name}!", "success")
            return redirect(url_for("home.index"))
    elif request.method == "POST":
        status = 400
    return render_template("signup.html", form=form, mode=mode), status
