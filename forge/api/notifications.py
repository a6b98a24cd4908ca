"""The inbox as GitHub's notifications: GET /notifications, PUT /notifications (mark read)."""

from __future__ import annotations

from flask import jsonify

from forge.accounts.permissions import can
from forge.api import api
from forge.api.auth import repo_viewer, require_scope, require_user
from forge.api.pagination import paginate
from forge.api.shapes import notifications as notification_shapes
from forge.review import changes as change_service
from forge.web.context import db


@api.get("/notifications")
def list_notifications():
    user = require_user()
    viewer = repo_viewer()
    # A token without `repo` sees no private repositories, nor news about them.
    found = [
        row
        for row in change_service.inbox(db(), user)
        if can(db(), viewer, "read", row.change.repository)
    ]
    body, headers = paginate(found, notification_shapes.notification)
    return jsonify(body), 200, headers


@api.put("/notifications")
def mark_notifications_read():
    user = require_scope("repo")
    change_service.mark_read(db(), user)
    return "", 205
