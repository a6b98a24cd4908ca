"""The REST API under /api/v3: a GitHub REST v3 compatible subset.

Views parse the request, call a service and answer with shapes from `forge.api.shapes`.
Only tokens authenticate here (never the browser's session cookie), which is why this
blueprint needs no CSRF token.
"""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v3")

from forge.api import (  # noqa: E402,F401
    actions,
    auth,
    branches,
    comments,
    commits,
    contents,
    emails,
    errors,
    gate,
    git_data,
    hooks,
    issue_labels,
    issues,
    merge_queue,
    notifications,
    openapi,
    orgs,
    protection_checks,
    pull_reviews,
    pulls,
    releases,
    repos,
    reputation,
    review_queue,
    review_requests,
    search,
    stars,
    statuses,
    triage,
    users,
    votes,
)
