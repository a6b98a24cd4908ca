"""User profile pages."""

from flask import Blueprint, render_template

from forge.accounts import reputation
from forge.accounts.users import get_user
from forge.repos.repositories import visible_repositories
from forge.web.context import db, viewer

bp = Blueprint("users", __name__)


@bp.route("/<username>")
def profile(username: str):
    user = get_user(db(), username)
    repos = visible_repositories(db(), viewer(), owner=user)
    summary = reputation.summary_of(db(), user)
    recent, _total = reputation.history(db(), viewer(), user, limit=10)
    chart = reputation.chart_svg_points(reputation.running_total(db(), user))
    return render_template(
        "user.html", user=user, repos=repos, summary=summary, recent=recent, chart=chart
    )
