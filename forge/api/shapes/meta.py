"""Shapes about the API itself rather than a resource: GET /rate_limit."""

from __future__ import annotations


def rate_limit(state) -> dict:
    """GET /rate_limit: where the caller stands; forge has one limit, GitHub's `core`."""
    entry = {
        "limit": state.limit,
        "used": state.used,
        "remaining": state.remaining,
        "reset": state.reset,
        "resource": state.resource,
    }
    return {"resources": {state.resource: entry}, "rate": entry}
