"""The front page: your repositories and the public ones; the site's icon."""

from flask import Blueprint, current_app, render_template

from forge.repos.repositories import repositories_of_member, visible_repositories
from forge.web.context import db, viewer

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    user = viewer()
    mine = repositories_of_member(db(), user) if user else []
    public = [r for r in visible_repositories(db(), None, limit=50)]
    return render_template("index.html", mine=mine, public=public)


@bp.route("/favicon.ico")
def favicon():
    """Browsers and feed readers ask for /favicon.ico whatever the page links: the same icon."""
    response = current_app.send_static_file("favicon.svg")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
