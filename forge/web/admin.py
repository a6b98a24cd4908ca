"""Site administration for admins: whether anyone may sign up, the accounts that signed
up under FORGE_SIGNUP=approval awaiting approval, signing an account out everywhere, and the
mail forge could not send (no FORGE_SMTP_URL), links included, to pass on by hand."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts import mail
from forge.accounts import users as accounts
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm, SiteSettingsForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def admins_only():
    user = viewer()
    if user is None or not user.is_admin:
        abort(404)


@bp.route("/", methods=["GET", "POST"])
def site():
    form = SiteSettingsForm(signup_enabled=accounts.signup_enabled(db()))
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, "The form expired; please try again.")
        accounts.set_site_setting(db(), "signup_enabled", "1" if form.signup_enabled.data else "0")
        flash("Site settings saved.", "success")
        return redirect(url_for(".site"))
    return render_template("admin.html", form=form, configured_mode=settings().signup_mode)


@bp.get("/users")
def users():
    return render_template(
        "admin_users.html",
        pending=accounts.pending_users(db()),
        mode=accounts.signup_mode(db(), settings().signup_mode),
    )


@bp.post("/users/<username>/approve")
def approve(username: str):
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    user = accounts.approve_user(db(), username)
    flash(f"{user.name} can sign in now.", "success")
    return redirect(url_for(".users"))


@bp.post("/users/<username>/reject")
def reject(username: str):
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    accounts.reject_user(db(), username)
    flash(f"The account {username} is rejected and deleted.", "info")
    return redirect(url_for(".users"))


@bp.post("/users/sign-out")
def sign_out_everywhere():
    """End every session of the account named in the form (a stolen cookie, a leaver)."""
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    user = accounts.get_user(db(), (request.form.get("username") or "").strip())
    accounts.end_sessions(user)
    flash(f"Every session of {user.name} is signed out.", "success")
    if user.id == viewer().id:
        return redirect(url_for("auth.login"))
    return redirect(url_for(".users"))


@bp.get("/mail")
def unsent_mail():
    page = render_template(
        "admin_mail.html", messages=mail.unsent(db()), smtp_configured=settings().smtp is not None
    )
    return page, 200, {"Cache-Control": "no-store"}  # the links in it open accounts
