"""The links every shape carries: absolute URLs to the forge's pages (`external_url`) and to its
API (`api_url`), and GitHub's timestamps. Inside a request the URLs start from the request's
host; a webhook payload, built outside one, names its base with `links_from`, whose one
context variable here is the only place that base is kept."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from forge.web import external_url as _request_url

# The forge's external URL when shapes are built outside a request (webhook payloads).
_BASE_URL: ContextVar[str | None] = ContextVar("forge_base_url", default=None)


# Set while a webhook payload is built: it follows GitHub's payloads, not the request's Accept.
_IN_PAYLOAD: ContextVar[bool] = ContextVar("forge_in_payload", default=False)


@contextmanager
def links_from(base_url: str | None):
    """Build absolute URLs from `base_url` in this block (None: from settings or request)."""
    token = _BASE_URL.set(base_url.rstrip("/") if base_url else None)
    in_payload = _IN_PAYLOAD.set(True)
    try:
        yield
    finally:
        _IN_PAYLOAD.reset(in_payload)
        _BASE_URL.reset(token)


def building_payload() -> bool:
    """Is a webhook payload being built (inside `links_from`)?"""
    return _IN_PAYLOAD.get()


def external_url(path: str) -> str:
    base = _BASE_URL.get()
    return base + path if base is not None else _request_url(path)


def api_url(path: str) -> str:
    return external_url("/api/v3" + path)


def timestamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
