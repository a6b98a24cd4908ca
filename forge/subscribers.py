"""What each forge process plugs into the services: registered by the application factory
(`forge.app.create_app`) and the worker factory (`forge worker`), never by the accident of an
import.

Services record what happened (a webhook event, say) through the service that owns it; how
the event is told to the world is the API layer's (GitHub's payload shapes). A worker process
never imports the web or API layers by itself, so without this registration every event raised
in a job (the merge queue's push, its `pull_request` closed and `merge_queue` events, a CI
run's statuses) found no payload builder and went nowhere.
"""

from __future__ import annotations


def register() -> None:
    """Register the webhook payload builders (idempotent: a process may call it twice)."""
    from forge.api.hooks import payload_builders
    from forge.notify import webhooks

    webhooks.register_payloads(payload_builders())
