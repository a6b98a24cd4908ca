"""Pages behind the links forge mails: verifying an address, and "forgot password" with the
reset it leads to (forge.accounts.email_links does the work)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required

from forge.accounts import email_links
from forge.errors import Invalid
from forge.web import external_url
from forge.web.context import db, settings, viewer
from forge.web.forms import ForgotPasswordForm, PostForm, ResetPasswordForm

bp = Blueprint("email_links", __name__)

SENT = (
    "If an account has that address, a link to reset its password is on its way there. "
    "It works for an hour."
)


def _mail_context() -> dict:
    return {"smtp": settings().smtp, "base_url": external_url(""), "key": settings().secret_key}


@bp.get("/verify-email/<secret>")
def verify(secret: str):
    user = email_links.verify_email(db(), secret, settings().secret_key)
    db().commit()
    flash(f"Thank you: {user.email} is verified.", "success")
    return redirect(url_for("account.profile") if viewer() else url_for("auth.login"))


@bp.post("/settings/email/verify")
@login_required
def resend():
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    user = viewer()
    if user.email_verified:
        flash(f"{user.email} is verified already.", "info")
    else:
        email_links.send_verification(db(), user, **_mail_context())
        flash(f"A verification link is on its way to {user.email}.", "success")
    return redirect(url_for("account.profile"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            email_links.request_password_reset(db(), form.email.data, **_mail_context())
        except Invalid as exc:
            form.email.errors.append(exc.message)
            return render_template("password_forgot.html", form=form), 400
        # The same answer whether or not an account has the address.
        flash(SENT, "info")
        return redirect(url_for("auth.login"))
    return render_template("password_forgot.html", form=form), 400 if form.errors else 200


@bp.route("/password/reset/<secret>", methods=["GET", "POST"])
def reset(secret: str):
    key = settings().secret_key
    try:
        email_links.find_link(db(), secret, email_links.RESET_PASSWORD, key)
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for(".forgot"))
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            form.confirm.errors.append("The two passwords differ.")
            status = 400
        else:
            try:
                email_links.reset_password(db(), secret, form.password.data, key)
            except Invalid as exc:
                form.password.errors.append(exc.message)
                status = 400
            else:
                db().commit()
                flash("Your password is changed; every session is signed out. Sign in.", "success")
                return redirect(url_for("auth.login"))
    elif form.errors:
        status = 400
    # The page's address holds the secret: keep it out of caches and of Referer headers.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return render_template("password_reset.html", form=form), status, headers
