"""The HTML side of forge: blueprints that parse a request, call a service and render.

`init_app` wires the per-request database session, the signed-in user, security headers
and the error pages that translate domain errors, and a database that cannot be reached into
503 with Retry-After (a page, or the API's JSON) instead of a 500.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, g, make_response, render_template, request
from flask_login import AnonymousUserMixin, LoginManager
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from forge.db import RETRY_AFTER, DatabaseUnavailable, unavailable_reason
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


UNAVAILABLE = "The database is unavailable for a moment. Please try again in a few seconds."

log = logging.getLogger(__name__)

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
        change_chains,
        changes,
        email_links,
        gerrit_rest,
        health,
        home,
        merge_queue,
        repos,
        review,
        tools,
        two_factor,
        users,
        votes,
        watching,
    )

    modules = (health, auth, account, admin, home, review, repos, browse, changes, votes, users)
    modules = (*modules, tools, gerrit_rest, change_chains)
    for module in (*modules, actions, merge_queue, watching, email_links, two_factor):
        app.register_blueprint(module.bp)
    from forge.web import hooks as hook_pages  # webhook settings: repositories and system

    app.register_blueprint(hook_pages.bp)
    from forge.web import search as search_pages  # the top bar's box and its results

    app.register_blueprint(search_pages.bp)
    from forge.web import orgs as org_pages  # organizations, their people and teams

    app.register_blueprint(org_pages.bp)
    from forge.web import releases as release_pages  # releases; stars and forks
    from forge.web import stars as star_pages

    app.register_blueprint(release_pages.bp)
    app.register_blueprint(star_pages.bp)
    from forge.web import push_protection as push_protection_pages

    app.register_blueprint(push_protection_pages.bp)
    from forge.web import issue_labels as issue_label_pages  # labels and milestones
    from forge.web import issues as issue_pages  # the Issues tab, an issue, a new one

    app.register_blueprint(issue_pages.bp)
    app.register_blueprint(issue_label_pages.bp)
    from forge.web import triage as triage_pages  # crowdsourced triage: panel and queues

    app.register_blueprint(triage_pages.bp)

    @login_manager.user_loader
    def load_user(user_id: str):
        from forge.models import User

        if g.get("database_unavailable"):
            return None  # the 503 page is shown to nobody in particular
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
                try:
                    session.commit()
                except SQLAlchemyError as exc:
                    # The database went away between the view's work and its commit: nothing
                    # was kept, and the client is told to try again (after_request errors
                    # would otherwise bypass the error handlers and answer 500).
                    reason = unavailable_reason(exc)
                    if reason is None:
                        raise
                    return _security_headers(database_unavailable(reason))
            else:
                session.rollback()
        return response

    @app.teardown_appcontext
    def close_session(exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()

    app.after_request(_security_headers)

    @app.context_processor
    def template_globals():
        return {"site_url": external_url(""), "signup_open": _signup_open}

    @app.errorhandler(ForgeError)
    def domain_error(exc: ForgeError):
        status = _status_for(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else {}
        return render_error(status, exc.message), status, headers

    @app.errorhandler(SQLAlchemyError)
    @app.errorhandler(DatabaseUnavailable)
    def database_error(exc: Exception):
        reason = unavailable_reason(exc)
        if reason is None:
            raise exc  # a bug or a constraint, not an outage: the 500 it always was
        return database_unavailable(reason)

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


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def database_unavailable(reason: str):
    """503 with Retry-After: the API's JSON under /api/, the error page elsewhere. Logged once,
    as a warning: an outage of the database is no bug of the request's."""
    log.warning(
        "database unavailable, %s %s answered 503: %s", request.method, request.path, reason
    )
    # Whatever the request opened is dead or locked; the error page must not touch it again
    # (the signed-in user and the sign-up link are read from the database).
    g.database_unavailable = True
    session = g.pop("db_session", None)
    if session is not None:
        with contextlib.suppress(SQLAlchemyError):  # gone already; the pool replaces it
            session.close()
    headers = {"Retry-After": str(RETRY_AFTER)}
    if request.path.startswith("/api/"):
        from forge.api.errors import error_response

        return error_response(503, UNAVAILABLE, headers)
    # Shown as to a visitor: the signed-in user's row went with the session, and the header's
    # inbox count would ask the database again.
    page = render_error(503, UNAVAILABLE, current_user=AnonymousUserMixin())
    return make_response(page, 503, headers)


def _status_for(exc: ForgeError) -> int:
    statuses = ((NotFound, 404), (Forbidden, 403), (Invalid, 400), (Conflict, 409),
                (Throttled, 429))  # fmt: skip
    for cls, status in statuses:
        if isinstance(exc, cls):
            return status
    return 400


def render_error(status: int, message: str, **context) -> str:
    titles = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Taken",
              413: "Too large", 429: "Slow down", 503: "Unavailable"}  # fmt: skip
    if status == 404:
        message = "There is nothing here, or you may not see it."
    return render_template(
        "error.html", status=status, title=titles.get(status, "Error"), message=message, **context
    )


def external_url(path: str) -> str:
    base = settings().base_url or request.host_url.rstrip("/")
    return base + path


def _signup_open() -> bool:
    from forge.accounts.users import signup_mode

    if g.get("database_unavailable"):
        return False
    return signup_mode(db(), settings().signup_mode) != "closed"
