"""The front page: your repositories and the public ones."""

from flask import Blueprint, render_template

from forge.repos.repositories import repositories_of_member, visible_repositories
from forge.web.context import db, viewer

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    user = viewer()
    mine = repositories_of_member(db(), user) if user else []
    public = [r for r in visible_repositories(db(), None, limit=50)]
    return render_template("index.html", mine=mine, public=public)
