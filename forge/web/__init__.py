"""The HTML side of forge: blueprints that parse a request, call a service and render.

`init_app` wires the per-request database session, the signed-in user, security headers
and the error pages that translate domain errors.
"""

from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_login import LoginManager
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from forge.errors import (
    Conflict,
    Forbidden,
    ForgeError,
    Invalid,
    NotFound,
    Throttled,
)
from forge.web.context import db, settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


login_manager = LoginManager()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    from forge.web import (
        account,
        actions,
        admin,
        auth,
        browse,
        changes,
        health,
        home,
        merge_queue,
        repos,
        review,
        users,
        votes,
    )

    modules = (health, auth, account, admin, home, review, repos, browse, changes, votes, users)
    for module in (*modules, actions, merge_queue):
        app.register_blueprint(module.bp)
    from forge.web import hooks as hook_pages  # webhook settings: repositories and system

    app.register_blueprint(hook_pages.bp)

    @login_manager.user_loader
    def load_user(user_id: str):
        from forge.models import User

        # "ID:VERSION" (User.get_id); a session from before versions holds "ID", version 0.
        number, _, version = user_id.partition(":")
        try:
            user = db().get(User, int(number))
            version = int(version or 0)
        except ValueError:
            return None
        if user is None or not user.is_active or version != (user.session_version or 0):
            return None  # signed out since: logout, a new password, "sign out everywhere"
        return user

    @app.after_request
    def finish_transaction(response):
        # A request that answered with success keeps what it wrote; an error answer does not.
        session = g.get("db_session")
        if session is not None:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        return response

    @app.teardown_appcontext
    def close_session(exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response

    @app.context_processor
    def template_globals():
        return {"site_url": external_url(""), "signup_open": _signup_open}

    @app.errorhandler(ForgeError)
    def domain_error(exc: ForgeError):
        status = _status_for(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else {}
        return render_error(status, exc.message), status, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code == 413:  # a body over FORGE_MAX_API_BODY_KB (see forge.app._bound_body)
            limit = settings().max_api_body_bytes
            size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
            exc = RequestEntityTooLarge(f"The request body is larger than the limit of {size}.")
        if request.path.startswith("/api/"):
            from forge.api.errors import http_error_response

            return http_error_response(exc)
        return render_error(exc.code, exc.description), exc.code


def _status_for(exc: ForgeError) -> int:
    statuses = ((NotFound, 404), (Forbidden, 403), (Invalid, 400), (Conflict, 409),
                (Throttled, 429))  # fmt: skip
    for cls, status in statuses:
        if isinstance(exc, cls):
            return status
    return 400


def render_error(status: int, message: str) -> str:
    titles = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Taken",
              413: "Too large", 429: "Slow down"}  # fmt: skip
    if status == 404:
        message = "There is nothing here, or you may not see it."
    return render_template(
        "error.html", status=status, title=titles.get(status, "Error"), message=message
    )


def external_url(path: str) -> str:
    base = settings().base_url or request.host_url.rstrip("/")
    return base + path


def _signup_open() -> bool:
    from forge.accounts.users import signup_mode

    return signup_mode(db(), settings().signup_mode) != "closed"
