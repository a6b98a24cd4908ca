"""The inbox and watching, as GitHub's notifications and repository subscriptions.

Notifications: GET/PUT /notifications, GET/PUT /repos/{o}/{r}/notifications, and GET, PATCH
(read) and DELETE (done) of /notifications/threads/{id}. Watching: GET/PUT/DELETE
/repos/{o}/{r}/subscription, GET /repos/{o}/{r}/subscribers, GET /user/subscriptions and
/users/{username}/subscriptions. A thread is about a pull request (a change) or an issue.
"""

from __future__ import annotations

from datetime import timedelta

from flask import jsonify, request

from forge.accounts.permissions import can
from forge.accounts.users import get_user
from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.bodies import body_field, iso_time, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import notifications as notification_shapes
from forge.api.shapes.repos import repository as repository_shape
from forge.api.shapes.users import simple_user
from forge.repos import watching
from forge.repos.repositories import get_repository
from forge.review import inbox
from forge.web.context import db

TRUE = ("1", "true")


def _list(repository=None):
    user = require_user()
    viewer = repo_viewer()
    found = inbox.entries(
        db(),
        user,
        include_read=request.args.get("all", "").lower() in TRUE,
        participating=request.args.get("participating", "").lower() in TRUE,
        repository=repository,
        since=iso_time(request.args.get("since"), "since"),
        before=iso_time(request.args.get("before"), "before"),
    )
    # A token without `repo` sees no private repositories, nor news about them.
    shown = [row for row in found if can(db(), viewer, "read", _subject(row).repository)]
    body, headers = paginate(shown, notification_shapes.notification)
    return jsonify(body), 200, headers


def _mark_read(repository=None):
    user = require_scope("repo")
    body = json_body() if request.get_data() else {}
    before = iso_time(body_field(body, "last_read_at", str), "last_read_at")
    if before is not None and before.microsecond == 0:
        # GitHub's times name whole seconds: what a client saw "at" that second it saw, and
        # PyGithub sends the moment it asks, truncated, so news of that very second counts.
        before += timedelta(seconds=1)
    if body_field(body, "read", bool, True):
        inbox.mark_read(db(), user, repository=repository, before=before)
    return "", 205


def _repository(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


@api.get("/notifications")
def list_notifications():
    return _list()


@api.put("/notifications")
def mark_notifications_read():
    return _mark_read()


@api.get("/repos/<owner>/<name>/notifications")
def list_repository_notifications(owner: str, name: str):
    return _list(_repository(owner, name))


@api.put("/repos/<owner>/<name>/notifications")
def mark_repository_notifications_read(owner: str, name: str):
    return _mark_read(_repository(owner, name))


def _subject(row):
    """What an inbox entry is about: a change, or an issue (forge.issues.inbox)."""
    return row.change if row.change is not None else row.issue


def _thread(thread_id: int):
    user = require_scope("repo")
    row = inbox.entry(db(), user, thread_id)
    if row is None or not can(db(), repo_viewer(), "read", _subject(row).repository):
        raise ApiError(404, "Not Found")
    return user, row


@api.get("/notifications/threads/<int:thread_id>")
def get_thread(thread_id: int):
    _user, row = _thread(thread_id)
    return jsonify(notification_shapes.notification(row))


@api.patch("/notifications/threads/<int:thread_id>")
def mark_thread_read(thread_id: int):
    user, row = _thread(thread_id)
    inbox.mark_read(db(), user, row.id)
    return "", 205


@api.delete("/notifications/threads/<int:thread_id>")
def mark_thread_done(thread_id: int):
    user, row = _thread(thread_id)
    inbox.mark_done(db(), user, row.id)
    return "", 204


# --- watching -----------------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/subscription")
def get_subscription(owner: str, name: str):
    user = require_user()
    repo = _repository(owner, name)
    watch = watching.subscription(db(), user, repo)
    if watch is None:
        raise ApiError(404, "Not Found")
    return jsonify(notification_shapes.subscription(watch, repo))


@api.put("/repos/<owner>/<name>/subscription")
def set_subscription(owner: str, name: str):
    user = require_scope("repo")
    repo = _repository(owner, name)
    body = json_body() if request.get_data() else {}
    subscribed = body_field(body, "subscribed", bool)
    ignored = bool(body_field(body, "ignored", bool, False))
    if subscribed is False and not ignored:
        # Neither watching nor ignoring: back to hearing only of what one takes part in.
        watching.unsubscribe(db(), user, repo)
        return jsonify(notification_shapes.subscription(None, repo))
    watch = watching.subscribe(db(), user, repo, ignored=ignored)
    return jsonify(notification_shapes.subscription(watch, repo))


@api.delete("/repos/<owner>/<name>/subscription")
def delete_subscription(owner: str, name: str):
    user = require_scope("repo")
    watching.unsubscribe(db(), user, _repository(owner, name))
    return "", 204


@api.get("/repos/<owner>/<name>/subscribers")
def list_subscribers(owner: str, name: str):
    repo = _repository(owner, name)
    body, headers = paginate(watching.watchers(db(), repo), simple_user)
    return jsonify(body), 200, headers


def _watched(user):
    viewer = repo_viewer()
    shown = [repo for repo in watching.watched_by(db(), user) if can(db(), viewer, "read", repo)]
    body, headers = paginate(shown, lambda repo: repository_shape(repo, None, family=False))
    return jsonify(body), 200, headers


@api.get("/user/subscriptions")
def list_my_subscriptions():
    return _watched(require_user())


@api.get("/users/<username>/subscriptions")
def list_user_subscriptions(username: str):
    return _watched(get_user(db(), username))
