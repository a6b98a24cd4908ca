"""Webhooks and their deliveries: a repository's hook or a system hook (the secret never
shown), where it lives in the API, its last response, and each delivery with its request,
response and attempts. The payloads the hooks deliver are in `events`."""

from __future__ import annotations

from forge.api.shapes.links import api_url, timestamp


def hook_api_path(row) -> str:
    """Where a hook lives in the API: under its repository, or /admin/hooks for system hooks."""
    if row.repository is None:
        return f"/admin/hooks/{row.id}"
    return f"/repos/{row.repository.full_name}/hooks/{row.id}"


def hook(row, last=None) -> dict:
    """A repository webhook, or a system hook (GitHub Enterprise's global webhook); the secret
    is never shown, only that there is one."""
    url = api_url(hook_api_path(row))
    config = {
        "content_type": row.content_type,
        "insecure_ssl": "1" if row.insecure_ssl else "0",
        "url": row.url,
    }
    if row.secret:
        config["secret"] = "********"
    return {
        "type": "Global" if row.repository is None else "Repository",
        "id": row.id,
        "name": "web",
        "active": row.active,
        "events": row.event_list,
        "config": config,
        "updated_at": timestamp(row.updated_at),
        "created_at": timestamp(row.created_at),
        "url": url,
        "test_url": url + "/test",
        "ping_url": url + "/pings",
        "deliveries_url": url + "/deliveries",
        "last_response": _last_response(last),
    }


def _last_response(delivery) -> dict:
    if delivery is None or not delivery.attempts:
        return {"code": None, "status": "unused", "message": None}
    latest = delivery.attempts[-1]
    return {
        "code": latest.status_code,
        "status": "active" if delivery.status == "delivered" else "failed",
        "message": latest.error or None,
    }


def _delivery_status(delivery) -> tuple[str, int]:
    if not delivery.attempts:
        return "Pending", 0
    latest = delivery.attempts[-1]
    if latest.status_code is None:
        return latest.error or "Failed", 0
    if 200 <= latest.status_code < 300:
        return "OK", latest.status_code
    return f"Invalid HTTP Response: {latest.status_code}", latest.status_code


def hook_delivery(delivery, repository_id: int) -> dict:
    status, code = _delivery_status(delivery)
    latest = delivery.attempts[-1] if delivery.attempts else None
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": timestamp(latest.started_at if latest else delivery.created_at),
        "redelivery": delivery.redelivery,
        "duration": (latest.duration_ms / 1000) if latest else 0,
        "status": status,
        "status_code": code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": None,
        "repository_id": repository_id,
        "throttled_at": None,
        # forge's own: where the delivery stands (pending, delivered, failed), how many tries.
        "state": delivery.status,
        "attempt_count": len(delivery.attempts),
    }


def hook_delivery_detail(delivery, hook_row) -> dict:
    import json

    latest = delivery.attempts[-1] if delivery.attempts else None
    return hook_delivery(delivery, hook_row.repository_id) | {
        "url": hook_row.url,
        "request": {
            "headers": json.loads(delivery.request_headers or "{}"),
            "payload": json.loads(delivery.payload),
        },
        "response": {
            "headers": json.loads(latest.response_headers) if latest else {},
            "payload": latest.response_body if latest else None,
        },
        "attempts": [
            {
                "number": a.number,
                "started_at": timestamp(a.started_at),
                "duration": a.duration_ms / 1000,
                "status_code": a.status_code,
                "error": a.error or None,
                "response": {"headers": json.loads(a.response_headers), "payload": a.response_body},
            }
            for a in delivery.attempts
        ],
    }
