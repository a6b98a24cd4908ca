"""Webhooks: /repos/{o}/{r}/hooks[/{id}[/pings|/tests|/deliveries[/{d}[/attempts]]]] for a
repository's admins, and the same under /admin/hooks for system hooks (GitHub Enterprise's
global webhooks: every repository's events), for site admins only.

Also holds the payload builders of webhook events (GitHub's shapes), which the application
and worker factories register with the webhook service (`forge.subscribers`).
"""

from __future__ import annotations

from pathlib import Path

from flask import has_app_context, has_request_context, jsonify
from sqlalchemy.orm import object_session

from forge.accounts.users import users_by_email
from forge.api import api
from forge.api.auth import require_scope, require_user
from forge.api.bodies import body_field, json_body
from forge.api.pagination import paginate
from forge.api.shapes import events as event_shapes
from forge.api.shapes import hooks as hook_shapes
from forge.api.shapes import issues as issue_shapes
from forge.api.shapes import releases as release_shapes
from forge.api.shapes.links import links_from
from forge.config import Settings
from forge.errors import Invalid
from forge.issues import catalog
from forge.models import Repository
from forge.notify import webhook_recording, webhook_subscriptions, webhooks
from forge.repos import contents as content_service
from forge.repos.branches import list_branches
from forge.repos.repositories import get_repository
from forge.review import changes as change_service
from forge.review import review_requests
from forge.review import reviews as review_service
from forge.web.context import db, settings

SCOPE = "admin:repo_hook"
SYSTEM_SCOPE = "site_admin"


def _links(build):
    """Run a payload builder with absolute URLs from `base_url`, else the request's."""

    def run(base_url, **subject):
        if base_url is None and not has_request_context():
            base_url = ""  # no request, no FORGE_BASE_URL: links relative to the forge
        with links_from(base_url):
            return build(**subject)

    return run


def payload_builders() -> dict:
    """event -> builder(base_url, **subject) -> GitHub's payload of the event."""
    return {
        "ping": _links(lambda hook, sender: event_shapes.ping_event(hook, sender)),
        "push": _links(
            lambda repository, update, forced, commits, pusher: event_shapes.push_event(
                repository, update, forced, commits, pusher
            )
        ),
        "create": _links(
            lambda repository, ref, ref_type, sender: event_shapes.ref_event(
                repository, ref, ref_type, sender, created=True
            )
        ),
        "delete": _links(
            lambda repository, ref, ref_type, sender: event_shapes.ref_event(
                repository, ref, ref_type, sender, created=False
            )
        ),
        "pull_request": _links(
            lambda repository, change, action, sender, **extra: event_shapes.pull_request_event(
                change, action, sender, _pull_counts(change), **extra
            )
        ),
        "pull_request_review": _links(
            lambda repository, change, review, sender, action="submitted": (
                event_shapes.pull_request_review_event(change, review, sender, action)
            )
        ),
        "pull_request_review_comment": _links(
            lambda repository, change, comment, sender, action="created", **changes: (
                event_shapes.pull_request_review_comment_event(
                    change, comment, sender, action, **changes
                )
            )
        ),
        "issue_comment": _links(_issue_comment_event),
        "issues": _links(
            lambda repository, issue, sender, action, extra: issue_shapes.issues_event(
                _issue_body(issue), repository, sender, action, _with_milestone(extra)
            )
        ),
        "label": _links(
            lambda repository, label, sender, action, changes: issue_shapes.label_event(
                label, repository, sender, action, changes
            )
        ),
        "milestone": _links(
            lambda repository, milestone, sender, action, changes: issue_shapes.milestone_event(
                _milestone_body(milestone), repository, sender, action, changes
            )
        ),
        "status": _links(
            lambda repository, status, sender: event_shapes.status_event(
                repository, status, sender, *_status_commit(repository, status.sha)
            )
        ),
        "vote": _links(
            lambda repository, change, vote, sender, action: event_shapes.vote_event(
                change, vote, sender, action
            )
        ),
        "release": _links(
            lambda repository, release, sender, action, changes: release_shapes.release_event(
                release, sender, action, changes
            )
        ),
        "merge_queue": _links(
            lambda repository, change, entry, sender, action: event_shapes.merge_queue_event(
                change, entry, sender, action, webhook_subscriptions.queue_position(entry)
            )
        ),
    }


def _session(row):
    return object_session(row)


def _repos_dir(row) -> Path:
    """Where the repositories are, for the process building a payload: its webhook
    dispatcher knows (workers too), else the app serving the request, else (a command with
    neither) the environment that names the forge's home."""
    dispatcher = _session(row).info.get("webhooks")
    if dispatcher is not None and dispatcher.repos_dir is not None:
        return dispatcher.repos_dir
    if has_app_context():
        return settings().repos_dir
    return Settings.from_env().repos_dir


def _pull_counts(change) -> dict:
    """What a pull_request event's pull request counts, as GitHub's does: its commits, lines
    and files, and its conversation and review comments (drafts left out)."""
    session = _session(change)
    return {
        "stats": content_service.change_stats(_repos_dir(change), change),
        "comments": len(change_service.conversation(session, change)),
        "review_comments": len(review_service.comments_of(session, change)),
        "requested_reviewers": review_requests.requested(session, change),
    }


def _comments_after(change, action: str) -> int:
    """How many comments the conversation holds once the action is done: a deleted comment
    is still there while its payload is built."""
    count = len(change_service.conversation(_session(change), change))
    return count - 1 if action == "deleted" else count


def _issue_comment_event(repository, comment, sender, action="created", change=None,
                         issue=None, **changes) -> dict:  # fmt: skip
    """A comment in a change's conversation or on an issue: GitHub's issue_comment either way."""
    if change is not None:
        return event_shapes.issue_comment_event(
            change, comment, sender, _comments_after(change, action), action, **changes
        )
    return issue_shapes.issue_comment_event(
        _issue_body(issue, action), comment, repository, sender, action, changes.get("changes", {})
    )


def _issue_body(issue, comment_action: str | None = None) -> dict:
    """The issue of an issues or issue_comment event, with its counts."""
    from forge.api.issues import issue_body

    return issue_body(_session(issue), issue, -1 if comment_action == "deleted" else 0)


def _milestone_body(milestone) -> dict:
    session = _session(milestone)
    repo = session.get(Repository, milestone.repository_id)
    return issue_shapes.milestone(
        milestone, repo.full_name, *catalog.issue_counts(session, milestone)
    )


def _with_milestone(extra: dict) -> dict:
    if extra.get("milestone") is None:
        return extra
    return extra | {"milestone_json": _milestone_body(extra["milestone"])}


def _status_commit(repository, sha: str) -> tuple:
    """The commit a status is set on, its authors' accounts by e-mail address, and the
    branches it is the tip of (GitHub lists up to 10 branches holding it; those whose tip it
    is do, and are known without walking history)."""
    repos_dir, session = _repos_dir(repository), _session(repository)
    info = content_service.commit_detail(repos_dir, repository, sha).commit
    emails = {person.email for person in (info.author, info.committer)}
    branches = [b for b in list_branches(session, repos_dir, repository) if b.sha == sha]
    return info, users_by_email(session, emails), branches[:10]


def _repo(owner: str, name: str):
    user = require_scope(SCOPE)
    return user, get_repository(db(), owner, name, user)


def _hook(owner: str, name: str, hook_id: int):
    user, repo = _repo(owner, name)
    return user, webhooks.get_hook(db(), user, repo, hook_id)


def _system(hook_id: int | None = None):
    """The site admin asking, and the system hook `hook_id`; 404 to anyone else, as GitHub
    Enterprise's admin API answers."""
    webhooks.require_manager(db(), require_user(), None)
    user = require_scope(SYSTEM_SCOPE)
    return user, (webhooks.get_hook(db(), user, None, hook_id) if hook_id else None)


def hook_json(hook) -> dict:
    return hook_shapes.hook(hook, webhooks.last_delivery(db(), hook))


def _config(body: dict) -> dict:
    config = body_field(body, "config", dict, {}) or {}
    return {
        "url": config.get("url"),
        "content_type": config.get("content_type"),
        "secret": config.get("secret"),
        "insecure_ssl": config.get("insecure_ssl"),
    }


# What repository hooks and system hooks share, once the hook (or its owner) is found.


def _list(user, repo):
    body, headers = paginate(webhooks.hooks_of(db(), user, repo), hook_json)
    return jsonify(body), 200, headers


def _create(user, repo):
    body = json_body()
    if body_field(body, "name", str, "web") != "web":
        raise Invalid("name must be web", field="name")
    config = {k: v for k, v in _config(body).items() if v is not None}
    hook = webhooks.create_hook(
        db(),
        user,
        repo,
        url=config.pop("url", None),
        events=body_field(body, "events", list, ["push"]),
        active=body_field(body, "active", bool, True),
        allowed_hosts=settings().webhook_allowed_hosts,
        **config,
    )
    return jsonify(hook_json(hook)), 201


def _edit(user, hook):
    body = json_body()
    webhooks.update_hook(
        db(),
        user,
        hook,
        **_config(body),
        events=body_field(body, "events", list),
        add_events=body_field(body, "add_events", list),
        remove_events=body_field(body, "remove_events", list),
        active=body_field(body, "active", bool),
        allowed_hosts=settings().webhook_allowed_hosts,
    )
    return jsonify(hook_json(hook))


def _delete(hook):
    webhooks.delete_hook(db(), hook)
    return "", 204


def _ping(user, hook):
    webhook_recording.ping(db(), hook, user)
    return "", 204


def _test(user, hook):
    webhooks.test_push(db(), settings().repos_dir, hook, user)
    return "", 204


def _deliveries(hook):
    rows = webhooks.deliveries_of(db(), hook)
    body, headers = paginate(rows, lambda d: hook_shapes.hook_delivery(d, hook.repository_id))
    return jsonify(body), 200, headers


def _delivery(hook, delivery_id: int):
    delivery = webhooks.get_delivery(db(), hook, delivery_id)
    return jsonify(hook_shapes.hook_delivery_detail(delivery, hook))


def _redeliver(hook, delivery_id: int):
    webhook_recording.redeliver(db(), webhooks.get_delivery(db(), hook, delivery_id))
    return jsonify({}), 202


# --- repository hooks ---------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/hooks")
def list_hooks(owner: str, name: str):
    return _list(*_repo(owner, name))


@api.post("/repos/<owner>/<name>/hooks")
def create_hook(owner: str, name: str):
    return _create(*_repo(owner, name))


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>")
def get_hook(owner: str, name: str, hook_id: int):
    _user, hook = _hook(owner, name, hook_id)
    return jsonify(hook_json(hook))


@api.patch("/repos/<owner>/<name>/hooks/<int:hook_id>")
def edit_hook(owner: str, name: str, hook_id: int):
    return _edit(*_hook(owner, name, hook_id))


@api.delete("/repos/<owner>/<name>/hooks/<int:hook_id>")
def delete_hook(owner: str, name: str, hook_id: int):
    return _delete(_hook(owner, name, hook_id)[1])


@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/pings")
def ping_hook(owner: str, name: str, hook_id: int):
    return _ping(*_hook(owner, name, hook_id))


# GitHub documents .../tests and names .../test in every hook's `test_url`: both answer.
@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/tests")
@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/test")
def test_hook(owner: str, name: str, hook_id: int):
    return _test(*_hook(owner, name, hook_id))


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries")
def list_deliveries(owner: str, name: str, hook_id: int):
    return _deliveries(_hook(owner, name, hook_id)[1])


@api.get("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries/<int:delivery_id>")
def get_delivery(owner: str, name: str, hook_id: int, delivery_id: int):
    return _delivery(_hook(owner, name, hook_id)[1], delivery_id)


@api.post("/repos/<owner>/<name>/hooks/<int:hook_id>/deliveries/<int:delivery_id>/attempts")
def redeliver(owner: str, name: str, hook_id: int, delivery_id: int):
    return _redeliver(_hook(owner, name, hook_id)[1], delivery_id)


# --- system hooks (site admins) -------------------------------------------------------------


@api.get("/admin/hooks")
def list_system_hooks():
    return _list(_system()[0], None)


@api.post("/admin/hooks")
def create_system_hook():
    return _create(_system()[0], None)


@api.get("/admin/hooks/<int:hook_id>")
def get_system_hook(hook_id: int):
    return jsonify(hook_json(_system(hook_id)[1]))


@api.patch("/admin/hooks/<int:hook_id>")
def edit_system_hook(hook_id: int):
    return _edit(*_system(hook_id))


@api.delete("/admin/hooks/<int:hook_id>")
def delete_system_hook(hook_id: int):
    return _delete(_system(hook_id)[1])


@api.post("/admin/hooks/<int:hook_id>/pings")
def ping_system_hook(hook_id: int):
    return _ping(*_system(hook_id))


@api.get("/admin/hooks/<int:hook_id>/deliveries")
def list_system_deliveries(hook_id: int):
    return _deliveries(_system(hook_id)[1])


@api.get("/admin/hooks/<int:hook_id>/deliveries/<int:delivery_id>")
def get_system_delivery(hook_id: int, delivery_id: int):
    return _delivery(_system(hook_id)[1], delivery_id)


@api.post("/admin/hooks/<int:hook_id>/deliveries/<int:delivery_id>/attempts")
def redeliver_system(hook_id: int, delivery_id: int):
    return _redeliver(_system(hook_id)[1], delivery_id)
