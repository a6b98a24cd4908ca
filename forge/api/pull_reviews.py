"""What maintainers do to the reviews of a pull request: PUT .../reviews/{id}/dismissals."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pulls import pull_of
from forge.api.shapes import pulls as pull_shapes
from forge.errors import Invalid
from forge.review import dismissals
from forge.web.context import db


@api.put("/repos/<owner>/<name>/pulls/<int:number>/reviews/<int:review_id>/dismissals")
def dismiss_review(owner: str, name: str, number: int, review_id: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    event = body_field(body, "event", str, "DISMISS") or "DISMISS"
    if event != "DISMISS":
        raise Invalid("event must be DISMISS", field="event")
    review = dismissals.dismiss_review(
        db(), change, user, review_id, body_field(body, "message", str, "") or ""
    )
    return jsonify(pull_shapes.review(change, review))
