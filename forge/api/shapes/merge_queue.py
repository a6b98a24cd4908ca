"""A branch's merge queue (forge's extension): one entry of the queue, with the pull request
it lands, and the answer to enabling auto-merge. A pull request's own `auto_merge` is in
`pulls`."""

from __future__ import annotations

from forge.api.shapes.links import external_url, timestamp
from forge.api.shapes.pulls import auto_merge, pull_urls
from forge.api.shapes.users import simple_user


def merge_queue_entry(entry, position: int | None) -> dict:
    """One entry of a branch's merge queue (forge's extension); `position` 1 is next to land,
    None once it left the queue. `head_sha` is the speculative merge CI tests, `base_sha`
    what it was built on."""
    change, run = entry.change, entry.ci_run_id
    repo = change.repository
    url, html_url = pull_urls(change)
    return {
        "id": entry.id,
        "position": position,
        "branch": entry.branch,
        "state": entry.state,
        "merge_method": entry.method,
        "reason": entry.reason or None,
        "bypass": entry.bypass,
        "base_sha": entry.base_sha,
        "head_sha": entry.speculative_sha,
        "ci_run_id": run,
        "ci_run_url": external_url(f"/{repo.full_name}/actions/runs/{run}") if run else None,
        "enqueued_by": simple_user(entry.enqueued_by) if entry.enqueued_by else None,
        "enqueued_at": timestamp(entry.created_at),
        "updated_at": timestamp(entry.updated_at),
        "pull_request": {
            "number": change.number,
            "title": change.title,
            "url": url,
            "html_url": html_url,
            "head_sha": change.head_sha,
        },
    }


def auto_merge_answer(change, entry, position: int | None = None) -> dict:
    """PUT .../auto-merge: the pull request's `auto_merge`, and its queue entry if it
    entered at once (it was submittable already)."""
    return {
        "auto_merge": auto_merge(change),
        "merge_queue_entry": merge_queue_entry(entry, position) if entry is not None else None,
    }
