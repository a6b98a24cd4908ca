"""User profile pages."""

from flask import Blueprint, render_template

from forge.services.accounts import get_user
from forge.services.repos import visible_repositories
from forge.web.context import db, viewer

bp = Blueprint("users", __name__)


@bp.route("/<username>")
def profile(username: str):
    user = get_user(db(), username)
    repos = visible_repositories(db(), viewer(), owner=user)
    return render_template("user.html", user=user, repos=repos)
