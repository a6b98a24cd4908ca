"""Site administration for admins: whether anyone may sign up."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.services import accounts
from forge.web.context import db, viewer
from forge.web.forms import SiteSettingsForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/", methods=["GET", "POST"])
@login_required
def site():
    if not viewer().is_admin:
        abort(404)
    form = SiteSettingsForm(signup_enabled=accounts.signup_enabled(db()))
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, "The form expired; please try again.")
        accounts.set_site_setting(db(), "signup_enabled", "1" if form.signup_enabled.data else "0")
        flash("Site settings saved.", "success")
        return redirect(url_for(".site"))
    return render_template("admin.html", form=form)
