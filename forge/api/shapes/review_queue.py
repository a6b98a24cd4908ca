"""A reviewer's queue (forge's own): the changes waiting for review, with how much review they
have and who claimed them, and the answer to claiming one."""

from __future__ import annotations

from forge.api.shapes.links import timestamp
from forge.api.shapes.pulls import pull_request, pull_urls
from forge.api.shapes.users import simple_user


def review_queue_item(item) -> dict:
    """A change in a reviewer's queue: GitHub's pull request, and how much it needs review."""
    return pull_request(item.change) | {
        "qualified_votes": item.qualified_votes,
        "claimed_by": simple_user(item.claimed_by) if item.claimed_by else None,
        "claim_expires_at": timestamp(item.claim_expires_at),
    }


def review_claim(change, claim) -> dict:
    return {
        "pull_request": pull_urls(change)[0],
        "number": change.number,
        "claimed_by": simple_user(claim.user),
        "claim_expires_at": timestamp(claim.expires_at),
    }
