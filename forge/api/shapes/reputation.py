"""A user's reputation (forge's own): the summary and its history, step by step, hiding what
happened in repositories the viewer cannot read."""

from __future__ import annotations

from forge.api.shapes.links import timestamp


def reputation_event(item) -> dict:
    """One step of a user's reputation; in a repository the viewer cannot read, only the
    number and the date show (an audit's words only to those `reputation.history` allows)."""
    event = item.event
    body = {"delta": event.delta, "kind": item.kind, "at": timestamp(event.created_at)}
    if not item.visible:
        return body | {"reason": "in a repository you cannot see", "repository": None,
                       "change": None}  # fmt: skip
    repo, change = item.repository, item.change
    return body | {
        "reason": item.reason,
        "repository": repo.full_name if repo is not None else None,
        "change": change.number if change is not None else None,
    }


def reputation(summary, history: list) -> dict:
    return {
        "reputation": summary.reputation,
        "accuracy": summary.accuracy,
        "settled_votes": summary.settled,
        "history": [reputation_event(item) for item in history],
    }
