"""User profile pages, and the avatar pictures the API's avatar_url points at."""

import hashlib

from flask import Blueprint, make_response, render_template, request

from forge.accounts import reputation
from forge.accounts.avatars import identicon_png
from forge.accounts.users import get_user
from forge.repos.repositories import visible_repositories
from forge.review import contributions
from forge.web.context import db, viewer

bp = Blueprint("users", __name__)

# The profile lists this many of the latest contributions; the calendar counts them all.
CONTRIBUTIONS_LISTED = 30


@bp.route("/<username>")
def profile(username: str):
    user = get_user(db(), username)
    if user.is_organization:
        from forge.web.orgs import profile as organization_profile

        return organization_profile(user)
    repos = visible_repositories(db(), viewer(), owner=user)
    summary = reputation.summary_of(db(), user)
    recent, _total = reputation.history(db(), viewer(), user, limit=10)
    chart = reputation.chart_svg_points(reputation.running_total(db(), user))
    done = contributions.contributions_of(db(), user, viewer())
    return render_template(
        "user.html",
        user=user,
        repos=repos,
        summary=summary,
        recent=recent,
        chart=chart,
        contributions=done[:CONTRIBUTIONS_LISTED],
        calendar=contributions.calendar(done),
    )


# A day: the picture never changes for an account, but a deleted account's should not linger.
AVATAR_MAX_AGE = 24 * 60 * 60


@bp.route("/avatars/<username>.png")
def avatar(username: str):
    user = get_user(db(), username)
    picture = identicon_png(user.id)
    response = make_response(picture)
    response.content_type = "image/png"
    response.cache_control.public = True
    response.cache_control.max_age = AVATAR_MAX_AGE
    response.set_etag(hashlib.sha256(picture).hexdigest()[:32])
    return response.make_conditional(request)
