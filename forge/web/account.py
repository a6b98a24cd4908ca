"""The signed-in user's own settings: profile, password, personal access tokens."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts import email_links
from forge.accounts import users as accounts
from forge.errors import Invalid
from forge.web import external_url
from forge.web.auth import end_session, start_session
from forge.web.context import db, redis_connection, settings, viewer
from forge.web.forms import PasswordChangeForm, PostForm, ProfileForm, TokenForm

bp = Blueprint("account", __name__, url_prefix="/settings")


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    user = viewer()
    form = ProfileForm(obj=user)
    password_form = PasswordChangeForm(prefix="pw")
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                changed = accounts.change_email(db(), user, form.email.data)
            except Invalid as exc:
                form.email.errors.append(exc.message)
                status = 400
            else:
                user.full_name = form.full_name.data.strip()
                if changed and not user.email_verified:
                    email_links.send_verification(
                        db(), user, settings().smtp, external_url(""), settings().secret_key
                    )
                    flash(f"Profile saved. Open the link we sent to {user.email} to verify "
                          "it.", "success")  # fmt: skip
                else:
                    flash("Profile saved.", "success")
                return redirect(url_for(".profile"))
        else:
            status = 400
    page = render_template(
        "settings_profile.html", form=form, password_form=password_form, sessions_form=PostForm()
    )
    return page, status


@bp.route("/password", methods=["POST"])
@login_required
def password():
    user = viewer()
    form = PasswordChangeForm(prefix="pw")
    if not form.validate_on_submit():
        abort(400, "Fill in both password fields.")
    # The same throttled check as signing in: a borrowed session must not become a way to
    # guess the password without limit.
    checked = accounts.check_credentials(
        db(),
        user.name,
        form.current.data,
        client_ip=request.remote_addr or "unknown",
        limits=settings().login_limits,
        connection=redis_connection(),
    )
    if checked is None or checked.user.id != user.id:
        flash("The current password is wrong.", "error")
        return redirect(url_for(".profile"))
    try:
        accounts.set_password(db(), user, form.new.data)  # signs out every session
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for(".profile"))
    start_session(user)  # but this one, on a fresh session
    flash("Password changed. Every other session is signed out.", "success")
    return redirect(url_for(".profile"))


@bp.route("/sessions/end", methods=["POST"])
@login_required
def end_sessions():
    """Sign out of every session, this one included (a lost laptop, a shared computer)."""
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    end_session()
    flash("You are signed out of every session.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    user = viewer()
    form = TokenForm()
    form.scopes.choices = [(s, f"{s}: {accounts.SCOPES[s]}") for s in accounts.allowed_scopes(user)]
    new_secret = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                _token, new_secret = accounts.create_token(
                    db(), user, form.label.data, form.scopes.data or []
                )
            except Invalid as exc:
                db().rollback()
                form.label.errors.append(exc.message)
                status = 400
            else:
                db().commit()
                form = TokenForm(formdata=None)
                form.scopes.choices = [
                    (s, f"{s}: {accounts.SCOPES[s]}") for s in accounts.allowed_scopes(user)
                ]
        else:
            status = 400
    page = render_template(
        "settings_tokens.html",
        form=form,
        tokens=user.tokens,
        new_secret=new_secret,
        revoke_form=PostForm(),
    )
    # The secret is shown once: neither the browser's cache nor its back button keeps it.
    return page, status, ({"Cache-Control": "no-store"} if new_secret else {})


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    accounts.revoke_token(db(), viewer(), token_id)
    flash("Token revoked; it no longer works.", "success")
    return redirect(url_for(".tokens"))
