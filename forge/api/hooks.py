"""Repository webhooks: /repos/{o}/{r}/hooks[/{id}[/pings|/deliveries[/{d}[/attempts]]]].

Also registers the payload builders of webhook events (GitHub's shapes) with the webhook
service, which calls them when an event happens.
"""

from __future__ import annotations

from flask import has_request_context, jsonify

from forge.api import api, shapes
from forge.api.auth import require_scope
from forge.api.pagination import paginate
from forge.api.repos import _field, json_body
from forge.services import webhooks
from forge.services.errors import Invalid
from forge.services.repos import get_repository
from forge.web.context import db, settings

SCOPE = "admin:repo_hook"


def _links(build):
    """Run a payload builder with absolute URLs from `base_url`, else the request's."""

    def run(base_url, **subject):
        if base_url is None and not has_request_context():
            base_url = ""  # no request, no FORGE_BASE_URL: links relative to the forge
        with shapes.links_from(base_url):
            return build(**subject)

    return run


webhooks.register_payloads(
    {
        "push": _links(
            lambda repository, update, forced, commits, pusher: shapes.push_event(
                repository, update, forced, commits, pusher
            )
        ),
        "create": _links(
            lambda repository, ref, ref_type, sender: shapes.ref_event(
                repository, ref, ref_type, sender, created=True
            )
        ),
        "delete": _links(
            lambda repository, ref, ref_type, sender: shapes.ref_event(
                repository, ref, ref_type, sender, created=False
            )
        ),
        "pull_request": _links(
            lambda repository, change, action, sender, **extra: shapes.pull_request_event(
                change, action, sender, **extra
            )
        ),
        "pull_request_review": _links(
            lambda repository, change, review, sender: shapes.pull_request_review_event(
                change, review, sender
            )
        ),
        "pull_request_review_comment": _links(
            lambda repository, change, comment, sender: shapes.pull_request_review_comment_event(
                change, comment, sender
            )
        ),
        "issue_comment": _links(
            lambda repository, change, comment, sender: shapes.issue_comment_event(
                change, comment, sender
            )
        ),
        "status": _links(
            lambda repository, status, sender: shapes.status_event(repository, status, sender)
        ),
    }
)


def _repo(owner: str, name: str):
    user = require_scope(SCOPE)
    return user, get_repository(db(), owner, name, user)


def _hook(owner: str, name: str, hook_id: int):
    user, repo = _repo(owner, name)
    return user, webhooks.get_hook(db(), user, repo, hook_id)


def hook_json(hook) -> dict:
    return shapes.hook(hook, webhooks.last_delivery(db(), hook))


def _config(body: dict) -> dict:
    config = _field(body, "config", dict, {}) or {}
    return {
        "url": config.get("url"),
        "content_type": config.get("content_type"),
        "secret": config.get("secret"),
        "insecure_ssl": config.get("insecure_ssl"),
    }


@api.get("/repos/<owner>/<name>/hooks")
def list_hooks(owner: str, name: str):
    user, repo = _repo(owner, name)
    body, headers = paginate(webhooks.hooks_of(db(), user, repo), hook_json)
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/hooks")
def create_hook(owner: str, name: str):
    user, repo = _repo(owner, name)
    body = json_body()
    if _field(body, "name", str, "web") != "web":
        raise Invalid("name must be web", field="name")
    config = {k: v for k, v in _config(body).items() if v is not None}
    hook = webhooks.create_hook(
        db(),
        user,
        repo,
        url=config.pop("url", None),
        events=_field(body, "events", list, ["push"]),
        active=_field(body, "active", bool, True),
        allowed_hosts=settings().webhook_allowed_hosts,
        **config,
    )
    return jsonify(hook_json(hook)), 201


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>")
def get_hook(owner: str, name: str, hook_id: int):
    _user, hook = _hook(owner, name, hook_id)
    return jsonify(hook_json(hook))


@api.patch("/repos/<owner>/<name>/hooks/<int:hook_id>")
def edit_hook(owner: str, name: str, hook_id: int):
    user, hook = _hook(owner, name, hook_id)
    body = json_body()
    webhooks.update_hook(
        db(),
        user,
        hook,
        **_config(body),
        events=_field(body, "events", list),
        add_events=_field(body, "add_events", list),
        remove_events=_field(body, "remove_events", list),
        active=_field(body, "active", bool),
        allowed_hosts=settings().webhook_allowed_hosts,
    )
    return jsonify(hook_json(hook))


@api.delete("/repos/<owner>/<name>/hooks/<int:hook_id>")
def delete_hook(owner: str, name: str, hook_id: int):
    _user, hook = _hook(owner, name, hook_id)
    webhooks.delete_hook(db(), hook)
    return "", 204


@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/pings")
def ping_hook(owner: str, name: str, hook_id: int):
    user, hook = _hook(owner, name, hook_id)
    webhooks.ping(db(), hook, shapes.ping_event(hook, user))
    return "", 204


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries")
def list_deliveries(owner: str, name: str, hook_id: int):
    _user, hook = _hook(owner, name, hook_id)
    rows = webhooks.deliveries_of(db(), hook)
    body, headers = paginate(rows, lambda d: shapes.hook_delivery(d, hook.repository_id))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries/<int:delivery_id>")
def get_delivery(owner: str, name: str, hook_id: int, delivery_id: int):
    _user, hook = _hook(owner, name, hook_id)
    delivery = webhooks.get_delivery(db(), hook, delivery_id)
    return jsonify(shapes.hook_delivery_detail(delivery, hook))


@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries/<int:delivery_id>/attempts")
def redeliver(owner: str, name: str, hook_id: int, delivery_id: int):
    _user, hook = _hook(owner, name, hook_id)
    webhooks.redeliver(db(), webhooks.get_delivery(db(), hook, delivery_id))
    return jsonify({}), 202
