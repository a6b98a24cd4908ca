"""GET /user/emails: the signed-in user's email addresses (a token with the `user` scope)."""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api.auth import require_scope
from forge.api.pagination import paginate
from forge.api.shapes import emails as email_shapes


@api.get("/user/emails")
def list_emails():
    user = require_scope("user")
    body, headers = paginate(email_shapes.emails(user), lambda item: item)
    return jsonify(body), 200, headers
