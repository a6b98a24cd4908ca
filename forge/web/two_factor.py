"""Two-factor sign-in in the browser: the code asked for after the password, and the settings
page that sets it up (QR code, confirmation, recovery codes) and turns it off."""

from __future__ import annotations

import time

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import login_required

from forge.accounts import two_factor
from forge.errors import Invalid, Throttled
from forge.models import User
from forge.web.auth import PENDING_SECOND_FACTOR as PENDING
from forge.web.auth import start_session
from forge.web.context import db, redis_connection, settings, viewer
from forge.web.forms import PostForm, TwoFactorCodeForm

bp = Blueprint("two_factor", __name__)


def _pending_user() -> tuple[User, dict] | None:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    user = db().get(User, pending.get("user"))
    if user is None or not user.is_active or not user.two_factor_enabled:
        return None
    if (user.session_version or 0) != pending.get("version"):
        return None  # the password changed or every session was ended since
    return user, pending


@bp.route("/login/two-factor", methods=["GET", "POST"])
def sign_in():
    found = _pending_user()
    if found is None:
        session.pop(PENDING, None)
        flash("Sign in again, please: the code was not entered in time.", "info")
        return redirect(url_for("auth.login"))
    user, pending = found
    form = TwoFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            kind = two_factor.check_sign_in_code(
                db(),
                user,
                form.code.data,
                client_ip=request.remote_addr or "unknown",
                limits=settings().login_limits,
                connection=redis_connection(),
            )
        except Throttled as exc:
            flash(exc.message, "error")
            page = render_template("login_two_factor.html", form=form)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except Invalid as exc:
            form.code.errors.append(exc.message)
            status = 401
        else:
            db().commit()
            start_session(user)
            if kind == "recovery":
                left = two_factor.recovery_codes_left(db(), user)
                flash(f"You used a recovery code; {left} are left. Make new ones in "
                      "Settings, Two-factor sign-in, if you are running low.", "info")  # fmt: skip
            return redirect(pending.get("next") or url_for("home.index"))
    elif request.method == "POST":
        status = 400
    return render_template("login_two_factor.html", form=form), status


@bp.route("/settings/two-factor", methods=["GET"])
@login_required
def settings_page():
    user = viewer()
    context = {"user": user, "form": TwoFactorCodeForm(), "post_form": PostForm()}
    if user.two_factor_enabled:
        context["codes_left"] = two_factor.recovery_codes_left(db(), user)
    elif user.two_factor_secret:
        uri = two_factor.provisioning_uri(user, request.host)
        context.update(uri=uri, qr_svg=two_factor.qr_svg(uri), secret=user.two_factor_secret)
    page = render_template("settings_two_factor.html", **context)
    # The page shows the secret while setting up: no cache keeps it.
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/settings/two-factor/start")
@login_required
def start():
    PostForm().validate_on_submit() or abort(400, "The form expired; please try again.")
    two_factor.begin_enrolment(db(), viewer())
    return redirect(url_for(".settings_page"))


@bp.post("/settings/two-factor/confirm")
@login_required
def confirm():
    form = TwoFactorCodeForm()
    form.validate_on_submit() or abort(400, "Enter the code your app shows.")
    user = viewer()
    try:
        codes = two_factor.confirm_enrolment(db(), user, form.code.data)
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for(".settings_page"))
    page = render_template("settings_two_factor_codes.html", codes=codes, just_enabled=True)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/settings/two-factor/recovery-codes")
@login_required
def regenerate_codes():
    form = TwoFactorCodeForm()
    form.validate_on_submit() or abort(400, "Enter a code from your app.")
    user = viewer()
    try:
        two_factor.check_second_factor(db(), user, form.code.data)
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for(".settings_page"))
    codes = two_factor.new_recovery_codes(db(), user)
    page = render_template("settings_two_factor_codes.html", codes=codes, just_enabled=False)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/settings/two-factor/disable")
@login_required
def disable():
    form = TwoFactorCodeForm()
    form.validate_on_submit() or abort(400, "Enter a code to turn two-factor sign-in off.")
    try:
        two_factor.disable(db(), viewer(), form.code.data)
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for(".settings_page"))
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for(".settings_page"))
