"""Webhook settings pages, like GitHub's and Gitea's: a repository's hooks under
/{owner}/{repo}/settings/hooks (its admins), and the system hooks under /admin/hooks (site
admins): add, edit, delete, ping, and each delivery with its request, response and Redeliver.

Every page calls the same service functions as the API (forge.notify.webhooks).
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from forge.errors import Invalid
from forge.notify import webhook_recording, webhooks
from forge.repos.repositories import get_repository
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("hooks", __name__)

# What each event is, for the checkboxes (GitHub's wording where GitHub has the event).
EVENT_HINTS = {
    "push": "Git push to a branch or tag.",
    "create": "Branch or tag created.",
    "delete": "Branch or tag deleted.",
    "pull_request": "Change request opened, edited, closed, reopened, merged or updated "
    "with a new patch set.",
    "pull_request_review": "Review submitted on a change request.",
    "pull_request_review_comment": "Comment on a change's diff.",
    "issue_comment": "Comment in a change's conversation.",
    "status": "Commit status (CI) created.",
    "vote": "Vote cast, changed or removed on a change's label.",
    "merge_queue": "Change queued, tested, merged, ejected or removed in the merge queue.",
}
DELIVERIES_SHOWN = 30


class HookForm(FlaskForm):
    url = StringField("Payload URL", validators=[DataRequired(), Length(max=2000)])
    content_type = RadioField(
        "Content type",
        choices=[("json", "application/json"), ("form", "application/x-www-form-urlencoded")],
        default="json",
    )
    # Write-only: never put back into the page.
    secret = PasswordField("Secret", validators=[Length(max=500)])
    clear_secret = BooleanField("Remove the secret (deliveries go unsigned)")
    insecure_ssl = BooleanField("Skip TLS certificate verification (not recommended)")
    trigger = RadioField(
        "Which events should trigger this webhook?",
        choices=[
            ("push", "Just the push event"),
            ("everything", "Send me everything"),
            ("chosen", "Let me select individual events"),
        ],
        default="push",
    )
    # Unknown names are the service's to refuse (Invalid at the field), not a bare "Not a
    # valid choice".
    events = SelectMultipleField(
        "Events",
        choices=[(event, event) for event in webhooks.EVENTS],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,
    )
    active = BooleanField("Active: deliver events when they happen", default=True)

    def hook_values(self) -> dict:
        """What the service's create_hook and update_hook take from the form (not the
        secret: blank means "none" when adding, "keep" when editing)."""
        return {
            "url": self.url.data.strip(),
            "content_type": self.content_type.data,
            "insecure_ssl": self.insecure_ssl.data,
            "events": self.chosen_events(),
            "active": self.active.data,
            "allowed_hosts": settings().webhook_allowed_hosts,
        }

    def chosen_events(self) -> list[str]:
        if self.trigger.data == "everything":
            return ["*"]
        if self.trigger.data == "chosen":
            return list(self.events.data or [])
        return ["push"]

    def show(self, hook) -> None:
        """Fill the form from a hook (the secret stays out)."""
        self.url.data = hook.url
        self.content_type.data = hook.content_type
        self.insecure_ssl.data = hook.insecure_ssl
        self.active.data = hook.active
        events = hook.event_list
        if "*" in events:
            self.trigger.data = "everything"
        elif events == ["push"]:
            self.trigger.data = "push"
        else:
            self.trigger.data, self.events.data = "chosen", events


# --- whose hooks: a repository's, or the system's ---------------------------------------------


def _repo(owner: str | None, name: str | None):
    """The repository whose hooks these are (None: the system hooks), once the viewer may
    manage them: a private repository is 404 to outsiders, its readers get 403 (as on the
    other settings pages), and the system hooks are 404 to all but site admins."""
    repo = get_repository(db(), owner, name, viewer()) if owner is not None else None
    webhooks.require_manager(db(), viewer(), repo)
    return repo


def _where(repo, **values) -> dict:
    if repo is not None:
        values |= {"owner": repo.owner.name, "name": repo.name}
    return values


def hooks_url(endpoint: str, repo, **values) -> str:
    return url_for(f"hooks.{endpoint}", **_where(repo, **values))


def _route(rule: str, **options):
    """Register a view under the repository's settings and under /admin (system hooks)."""

    def register(view):
        endpoint = options.pop("endpoint", view.__name__)
        guarded = login_required(view)
        bp.add_url_rule("/<owner>/<name>/settings/hooks" + rule, endpoint, guarded, **options)
        bp.add_url_rule(
            "/admin/hooks" + rule,
            endpoint,
            guarded,
            defaults={"owner": None, "name": None},
            **options,
        )
        return view

    return register


def _render(template: str, repo, status: int = 200, **context):
    return render_template(
        template,
        repo=repo,
        hooks_url=lambda endpoint, **values: hooks_url(endpoint, repo, **values),
        post_form=PostForm(),
        event_hints=EVENT_HINTS,
        **context,
    ), status


# --- pages ------------------------------------------------------------------------------------


@_route("")
def index(owner: str | None, name: str | None):
    repo = _repo(owner, name)
    hooks = webhooks.hooks_of(db(), viewer(), repo)
    last = {hook.id: webhooks.last_delivery(db(), hook) for hook in hooks}
    return _render("settings_hooks.html", repo, hooks=hooks, last=last)


@_route("/new", methods=["GET", "POST"])
def new(owner: str | None, name: str | None):
    repo = _repo(owner, name)
    form = HookForm()
    if request.method == "GET":
        return _render("settings_hooks_form.html", repo, form=form, hook=None)
    if not form.validate_on_submit():
        return _render("settings_hooks_form.html", repo, 400, form=form, hook=None)
    try:
        hook = webhooks.create_hook(
            db(),
            viewer(),
            repo,
            **form.hook_values(),
            secret=form.secret.data or "",
        )
    except Invalid as exc:
        return _refused(owner, name, form, exc, hook=None)
    db().commit()
    pinged = " A ping is on its way to check it." if hook.active else ""
    flash("Webhook added." + pinged, "success")
    return redirect(hooks_url("edit", repo, hook_id=hook.id))


@_route("/<int:hook_id>", methods=["GET", "POST"])
def edit(owner: str | None, name: str | None, hook_id: int):
    repo = _repo(owner, name)
    hook = webhooks.get_hook(db(), viewer(), repo, hook_id)
    if request.method == "GET":
        form = HookForm(formdata=None)
        form.show(hook)
        return _edit_page(repo, hook, form)
    form = HookForm()
    if not form.validate_on_submit():
        return _edit_page(repo, hook, form, 400)
    # A blank secret keeps the one the hook has.
    secret = "" if form.clear_secret.data else (form.secret.data or None)
    try:
        webhooks.update_hook(
            db(),
            viewer(),
            hook,
            **form.hook_values(),
            secret=secret,
        )
    except Invalid as exc:
        return _refused(owner, name, form, exc, hook_id=hook_id)
    db().commit()
    flash("Webhook saved.", "success")
    return redirect(hooks_url("edit", repo, hook_id=hook.id))


def _edit_page(repo, hook, form, status=200):
    deliveries = webhooks.deliveries_of(db(), hook, limit=DELIVERIES_SHOWN)
    return _render(
        "settings_hooks_form.html",
        repo,
        status,
        form=form,
        hook=hook,
        deliveries=deliveries,
        pretty=pretty_json,
    )


def _refused(owner, name, form, exc: Invalid, hook=None, hook_id=None):
    """Nothing of the refused change is kept; the reason is shown at its field."""
    db().rollback()
    repo = _repo(owner, name)
    field = getattr(form, exc.field or "url", None) or form.url
    field.errors = [*field.errors, exc.message]
    if hook_id is None:
        return _render("settings_hooks_form.html", repo, 400, form=form, hook=None)
    return _edit_page(repo, webhooks.get_hook(db(), viewer(), repo, hook_id), form, 400)


@_route("/<int:hook_id>/delete", methods=["POST"])
def delete(owner: str | None, name: str | None, hook_id: int):
    repo = _repo(owner, name)
    hook = webhooks.get_hook(db(), viewer(), repo, hook_id)
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    url = hook.url
    webhooks.delete_hook(db(), hook)
    db().commit()
    flash(f"Webhook to {url} deleted, with its deliveries.", "success")
    return redirect(hooks_url("index", repo))


@_route("/<int:hook_id>/pings", methods=["POST"])
def ping(owner: str | None, name: str | None, hook_id: int):
    repo = _repo(owner, name)
    hook = webhooks.get_hook(db(), viewer(), repo, hook_id)
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    webhook_recording.ping(db(), hook, viewer())
    db().commit()
    flash("Ping sent; its delivery is listed below.", "success")
    return redirect(hooks_url("edit", repo, hook_id=hook.id) + "#deliveries")


@_route("/<int:hook_id>/deliveries/<int:delivery_id>")
def delivery(owner: str | None, name: str | None, hook_id: int, delivery_id: int):
    repo = _repo(owner, name)
    hook = webhooks.get_hook(db(), viewer(), repo, hook_id)
    found = webhooks.get_delivery(db(), hook, delivery_id)
    return _render(
        "settings_hooks_delivery_page.html", repo, hook=hook, delivery=found, pretty=pretty_json
    )


@_route("/<int:hook_id>/deliveries/<int:delivery_id>/attempts", methods=["POST"])
def redeliver(owner: str | None, name: str | None, hook_id: int, delivery_id: int):
    repo = _repo(owner, name)
    hook = webhooks.get_hook(db(), viewer(), repo, hook_id)
    found = webhooks.get_delivery(db(), hook, delivery_id)
    if not PostForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    webhook_recording.redeliver(db(), found)
    db().commit()
    flash(f"Redelivery of {found.guid} queued.", "success")
    return redirect(hooks_url("edit", repo, hook_id=hook.id) + "#deliveries")


def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except (TypeError, ValueError):
        return text


@bp.app_template_filter("json_object")
def json_object(text: str | None) -> dict:
    """Headers stored as JSON, for listing them."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
