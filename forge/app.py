"""The Flask application factory: configuration, extensions, blueprints, error pages."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from forge.config import Settings
from forge.db import Database
from forge.queue import connect as connect_queue

PROJECT_ROOT = Path(__file__).resolve().parent.parent

csrf = CSRFProtect()
login_manager = LoginManager()


class DatabaseInteger(IntegerConverter):
    """`<int:...>` in URLs, up to what a database integer holds: a larger number finds
    nothing (404) instead of overflowing in the database driver (500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.ensure_home(create=True)
    app = Flask(
        "forge",
        root_path=str(PROJECT_ROOT),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(settings.home),
    )
    app.url_map.converters["int"] = DatabaseInteger
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=None,  # git pushes stream; each view enforces its own limit
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["forge.settings"] = settings
    app.extensions["forge.db"] = Database(settings.database_url)
    app.extensions["forge.redis"] = connect_queue(settings.redis_url)
    _attach_webhooks(app, settings)

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"

    from forge import web
    from forge.api import api
    from forge.web.git_http import GitHTTP

    web.init_app(app)
    csrf.exempt(api)
    app.register_blueprint(api)
    app.wsgi_app = GitHTTP(app, app.wsgi_app)
    return app


def _attach_webhooks(app: Flask, settings: Settings) -> None:
    """Sessions of this app queue the webhook deliveries they record once they commit."""
    from forge import queue
    from forge.services import webhooks

    connection = app.extensions["forge.redis"]
    webhooks.attach(
        app.extensions["forge.db"],
        settings,
        lambda queue_name, func, *args, **options: queue.enqueue(
            connection, queue_name, func, *args, **options
        ),
    )
