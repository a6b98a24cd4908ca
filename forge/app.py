"""The Flask application factory: configuration, extensions, blueprints, error pages."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from forge import logs, subscribers
from forge.config import Settings
from forge.db import Database
from forge.git import page_cache
from forge.queue import connect as connect_queue

PROJECT_ROOT = Path(__file__).resolve().parent.parent

csrf = CSRFProtect()


class DatabaseInteger(IntegerConverter):
    """`<int:...>` in URLs, up to what a database integer holds (SQLAlchemy's Integer is
    PostgreSQL's 4-byte integer): a larger number finds nothing (404) instead of overflowing
    in the database (500: psycopg casts the bound value to the column's type)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.ensure_home(create=True)
    # What pages compute from history, on disk and shared by the site's processes.
    page_cache.configure(settings.home / "cache", settings.page_cache_mb * 1024 * 1024)
    if settings.log_format == "json":
        # Text stays as the server (gunicorn) or the caller set it up; JSON is for every line.
        logs.configure("web", settings.log_format)
    app = Flask(
        "forge",
        root_path=str(PROJECT_ROOT),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(settings.home),
    )
    app.url_map.converters["int"] = DatabaseInteger
    secure = (settings.base_url or "").lower().startswith("https://")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # Every route Flask serves; git's smart HTTP is answered before Flask
        # (forge.web.git_http) under its own, larger FORGE_MAX_BODY_MB. See `_bound_body`.
        MAX_CONTENT_LENGTH=settings.max_api_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SAMESITE="Lax",
        # Served over HTTPS: the browser never sends the session over plain HTTP.
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions["forge.settings"] = settings
    app.extensions["forge.db"] = Database(
        settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms
    )
    app.extensions["forge.redis"] = connect_queue(settings.redis_url)
    _attach_webhooks(app, settings)
    subscribers.register()

    from forge.api.bodies import BoundedJSONProvider

    app.json = BoundedJSONProvider(app)
    # The first request hook of all: an oversized body is refused before anything else runs.
    app.before_request(_bound_body)
    csrf.init_app(app)

    from forge import web
    from forge.api import api
    from forge.web.git_http import GitHTTP
    from forge.web.observe import Observe

    web.init_app(app)
    csrf.exempt(api)
    app.register_blueprint(api)
    from forge.api.graphql import graphql  # says that forge has no GraphQL API

    csrf.exempt(graphql)  # token-authenticated clients (gh), like the REST API
    app.register_blueprint(graphql)
    app.wsgi_app = GitHTTP(app, app.wsgi_app)
    if settings.proxy_count:
        # Outermost, so git over HTTP sees the client's address and scheme as well.
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    # Outermost of all: request ids, metrics and /metrics (forge.web.observe).
    app.wsgi_app = Observe(app, app.wsgi_app)
    return app


# Where release assets are uploaded: the API's upload_url and the release page's form.
UPLOAD_ENDPOINTS = frozenset({"api.upload_release_asset", "releases.upload_asset"})


def _bound_body() -> None:
    """Refuse a body over FORGE_MAX_API_BODY_KB (413): one whose Content-Length says so before
    reading any of it, a chunked one (no Content-Length) once a byte past the limit arrives."""
    settings = current_app.extensions["forge.settings"]
    if request.endpoint in UPLOAD_ENDPOINTS:
        # A release asset: bounded by its own limit, and streamed to disk by the view (with a
        # little room for a form's other fields), never read into memory here.
        request.max_content_length = settings.max_asset_bytes + 64 * 1024
        if request.content_length is not None and request.content_length > (
            request.max_content_length
        ):
            raise RequestEntityTooLarge()
        return
    limit = settings.max_api_body_bytes
    request.max_form_memory_size = limit  # one form field may be as large as the body
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
    elif request.environ.get("wsgi.input_terminated"):
        # The server ends the stream (chunked). werkzeug would cut it off at the limit without
        # a word when read whole, so read it here, up to one byte past the limit.
        stream, body = request.environ["wsgi.input"], bytearray()
        while len(body) <= limit:
            data = stream.read(min(64 * 1024, limit + 1 - len(body)))
            if not data:
                break
            body += data
        if len(body) > limit:
            raise RequestEntityTooLarge()
        request.environ["wsgi.input"] = io.BytesIO(bytes(body))


def _attach_webhooks(app: Flask, settings: Settings) -> None:
    """Sessions of this app queue the webhook deliveries they record once they commit."""
    from forge import queue
    from forge.notify import webhook_recording

    connection = app.extensions["forge.redis"]
    webhook_recording.attach(
        app.extensions["forge.db"],
        settings,
        lambda queue_name, func, *args, **options: queue.enqueue(
            connection, queue_name, func, *args, **options
        ),
    )
