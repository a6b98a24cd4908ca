"""Per-request access to the database session, settings, Redis and the signed-in user."""

from __future__ import annotations

from flask import current_app, g
from flask_login import current_user
from sqlalchemy.orm import Session

from forge.config import Settings
from forge.models import User


def db() -> Session:
    """The request's database session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["forge.db"].sessionmaker()
        _attach_queue(g.db_session)
        # forge.accounts.reputation pays events by the numbers this forge was configured with.
        g.db_session.info["forge.reputation_rules"] = settings().reputation
    return g.db_session


def _attach_queue(session: Session) -> None:
    """What services need to put work on the queue once this request's writes commit."""
    from flask import has_request_context, request

    from forge import queue

    connection = current_app.extensions["forge.redis"]
    session.info["forge.enqueue"] = lambda name, func, *args: queue.enqueue(
        connection, name, func, *args
    )
    if has_request_context():
        base = current_app.extensions["forge.settings"].base_url
        session.info["forge.base_url"] = base or request.host_url.rstrip("/")


def settings() -> Settings:
    return current_app.extensions["forge.settings"]


def redis_connection():
    return current_app.extensions["forge.redis"]


def viewer() -> User | None:
    """The signed-in user, or None for an anonymous visitor."""
    user = current_user._get_current_object()
    return user if getattr(user, "is_authenticated", False) else None
