"""A user's inbox entries as GitHub's notification threads (about a pull request or an issue), and
repository subscriptions (watching)."""

from __future__ import annotations

from forge.api.shapes.links import api_url, timestamp
from forge.api.shapes.pulls import pull_urls
from forge.api.shapes.repos import repository
from forge.db import utcnow


def notification(row) -> dict:
    """An inbox entry as GitHub's notification thread (every one is about a pull request)."""
    change = row.change or row.issue
    if row.change is not None:
        url, _html = pull_urls(change)
    else:  # news of an issue (forge.issues.inbox)
        url = api_url(f"/repos/{change.repository.full_name}/issues/{change.number}")
    thread = api_url(f"/notifications/threads/{row.id}")
    return {
        "id": str(row.id),
        "unread": not row.read,
        "reason": row.reason,
        "updated_at": timestamp(row.created_at),
        "last_read_at": None,
        "subject": {
            "title": change.title,
            "url": url,
            "latest_comment_url": url,
            "type": "PullRequest" if row.change is not None else "Issue",
        },
        "repository": repository(change.repository, None),
        "url": thread,
        "subscription_url": thread + "/subscription",
    }


def subscription(watch, repo) -> dict:
    """A repository subscription; `watch` None for one that was just ended."""
    url = api_url(f"/repos/{repo.full_name}")
    return {
        "subscribed": watch is not None and not watch.ignored,
        "ignored": watch is not None and watch.ignored,
        "reason": None,
        "created_at": timestamp(watch.created_at if watch is not None else utcnow()),
        "url": url + "/subscription",
        "repository_url": url,
    }
