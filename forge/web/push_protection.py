"""Push protection pages: where a refused pusher allows a secret (the link in the refusal,
GitHub's /security/secret-scanning/unblock-secret/...), and the repository's settings tab
where its admins switch the protection and see every secret allowed, by whom and why.

Both call forge.repos.push_protection; nothing here decides.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import RadioField

from forge.accounts.permissions import can
from forge.repos import push_protection
from forge.repos.repositories import get_repository
from forge.repos.secret_scanning import kind_of
from forge.web.context import db, settings, viewer

bp = Blueprint("push_protection", __name__)


class AllowSecretForm(FlaskForm):
    reason = RadioField(
        "Why should this secret be allowed?",
        choices=list(push_protection.REASONS.items()),
    )


class PushProtectionForm(FlaskForm):
    setting = RadioField(
        "Push protection",
        choices=[
            ("default", "The site's default"),
            ("on", "On: refuse pushes that carry secrets"),
            ("off", "Off: let every push through unscanned"),
        ],
    )


SETTING_VALUES = {"default": None, "on": True, "off": False}


@bp.route(f"/<owner>/<name>/{push_protection.UNBLOCK_PATH}/<token>", methods=["GET", "POST"])
@login_required
def unblock_secret(owner: str, name: str, token: str):
    repo = get_repository(db(), owner, name, viewer())
    request_ = push_protection.find_request(db(), repo, viewer(), token, settings().secret_key)
    existing = push_protection.allowed_bypass(db(), repo, request_.fingerprint)
    form = AllowSecretForm()
    status = 200
    if existing is None and form.validate_on_submit():
        existing = push_protection.allow_secret(db(), repo, viewer(), request_, form.reason.data)
        db().commit()
        flash("Secret allowed. Push again: this secret now passes in this repository.", "success")
        return redirect(url_for(".unblock_secret", owner=owner, name=name, token=token))
    if form.errors:
        status = 400
    return render_template(
        "push_protection_unblock.html",
        repo=repo,
        finding=request_,
        form=form,
        allowed=existing,
        reasons=push_protection.REASONS,
    ), status


@bp.route("/<owner>/<name>/settings/push-protection", methods=["GET", "POST"])
@login_required
def settings_tab(owner: str, name: str):
    repo = get_repository(db(), owner, name, viewer())
    if not can(db(), viewer(), "admin", repo):
        abort(403, f"You need the admin role on {repo.full_name} to change its settings.")
    current = {None: "default", True: "on", False: "off"}[repo.push_protection]
    form = PushProtectionForm(data={"setting": current})
    status = 200
    if form.validate_on_submit():
        value = SETTING_VALUES[form.setting.data]
        push_protection.set_enabled(db(), repo, viewer(), value)
        db().commit()
        state = "on" if push_protection.is_enabled(repo, settings().push_protection) else "off"
        flash(f"Push protection is {state} for {repo.full_name}.", "success")
        return redirect(url_for(".settings_tab", owner=owner, name=name))
    if form.errors:
        status = 400
    return render_template(
        "repo_push_protection.html",
        repo=repo,
        form=form,
        enabled=push_protection.is_enabled(repo, settings().push_protection),
        site_default=settings().push_protection,
        bypasses=push_protection.bypasses(db(), viewer(), repo),
        reasons=push_protection.REASONS,
        kind_of=kind_of,
    ), status
