"""GET /healthz: does forge, its database and its queue answer?"""

from flask import Blueprint, current_app, jsonify

from forge.db import DatabaseUnavailable
from forge.queue import QueueUnavailable, check

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    body = {"status": "ok", "database": "ok", "queue": "ok"}
    try:
        current_app.extensions["forge.db"].check()
    except DatabaseUnavailable:
        body["database"] = "unavailable"
    try:
        check(current_app.extensions["forge.redis"])
    except QueueUnavailable:
        body["queue"] = "unavailable"
    failing = [part for part in ("database", "queue") if body[part] != "ok"]
    if failing:
        body["status"] = "failing: " + ", ".join(failing)
        return jsonify(body), 503
    return jsonify(body)
