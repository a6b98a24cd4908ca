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
    # forge has no search API: no search requests are allowed, which GitHub's clients read
    # from a `search` limit of 0 (they expect the entry).
    search = {"limit": 0, "used": 0, "remaining": 0, "reset": state.reset, "resource": "search"}
    return {"resources": {"search": search, state.resource: entry}, "rate": entry}
