"""/api/graphql, where GitHub's GraphQL API lives: forge has none, and says so in the error
format of its REST API, so that `gh pr list` and other GraphQL clients stop with a message
that points at what works (`gh api` with REST paths) rather than a bare 405."""

from __future__ import annotations

from flask import Blueprint, jsonify

graphql = Blueprint("graphql", __name__, url_prefix="/api")

NO_GRAPHQL = (
    "forge serves GitHub's REST API under /api/v3, not its GraphQL API: "
    "use the REST endpoints (with gh: `gh api PATH`); docs/api.md lists them"
)


@graphql.route("/graphql", methods=["GET", "POST"])
def no_graphql():
    body = {"message": NO_GRAPHQL, "documentation_url": "https://docs.github.com/rest"}
    return jsonify(body), 404
