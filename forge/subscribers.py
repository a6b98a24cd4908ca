"""Who listens to what: the one place that wires forge's domain events (`forge.events`) to
their subscribers, and the webhook payload builders to the webhook service.

Called by the application factory (`forge.app.create_app`) and by the CLI for every other
process (`forge worker`, `forge ci reconcile`, ...), never by the accident of an import: a
worker process never imports the web or API layers by itself, and before this registration
every event raised in a job (the merge queue's push, its `pull_request` closed and
`merge_queue` events) found no payload builder and went nowhere.

Order matters where it is listed: subscribers run in this order, in the publisher's
transaction. The gate's own bookkeeping comes first (a review's verdict becomes a vote before
any webhook describes it), then CI and the merge queue, and the webhooks last, so a payload
shows the state the other subscribers left.
"""

from __future__ import annotations

from forge import events


def register() -> None:
    """Wire this process (idempotent: a process may call it twice; the wiring is replaced)."""
    from forge.accounts import reputation
    from forge.api.hooks import payload_builders
    from forge.ci import runs as ci
    from forge.gate import auto_submit, merge_queue, merge_queue_advance, votes
    from forge.issues import references as issue_references
    from forge.issues import repro, triage
    from forge.notify import inbox, webhook_recording, webhook_subscriptions
    from forge.search import documents as search_documents

    webhook_recording.register_payloads(payload_builders())
    # Search's repository and change documents follow their rows in every session.
    search_documents.install()

    def queue_drops_new_patch_set(session, event: events.PatchSetUploaded) -> None:
        merge_queue.on_new_patch_set(session, event.change, event.sender)

    def queue_drops_closed(session, event: events.ChangeClosed) -> None:
        merge_queue.on_closed(session, event.change, event.sender)

    def queue_considers_status(session, event: events.StatusChanged) -> None:
        if event.status.creator_id is None:
            return  # forge's CI: the queue follows its runs (CiRunFinished) instead
        auto_submit.schedule_consider(session, event.repository, event.status.sha)

    def queue_considers_vote(session, event: events.VoteCast) -> None:
        # The change may have become submittable (auto-submit, auto-merge) or stopped being so.
        auto_submit.schedule_consider(session, event.repository, event.change.head_sha)

    def queue_follows_run(session, event: events.CiRunFinished) -> None:
        merge_queue_advance.on_run_finished(session, event.run)

    wiring: dict[type[events.Event], list] = {
        events.ChangeOpened: [ci.on_change_head, issue_references.on_change_written],
        events.PatchSetUploaded: [
            votes.on_patch_set_uploaded,
            ci.on_change_head,
            queue_drops_new_patch_set,
            issue_references.on_change_written,
        ],
        # `#N` in a change's description or commits shows on both pages.
        events.ChangeEdited: [issue_references.on_change_written],
        events.ChangeClosed: [reputation.on_change_closed, queue_drops_closed],
        # A merged change closes the issues it says it fixes (Fixes #N).
        # Reports with a repro script are closed by their script passing on the new tip.
        events.ChangeMerged: [
            reputation.on_change_merged,
            issue_references.on_change_merged,
            repro.on_change_merged,
        ],
        # Crowdsourced triage: a new report starts unconfirmed, a closed one settles its
        # confirmers' reputation; a repro script runs in CI.
        events.IssueChanged: [triage.on_issue_changed, repro.on_issue_changed],
        events.ReviewSubmitted: [votes.on_review_submitted],
        events.ReviewDismissed: [votes.on_review_dismissed],
        events.VoteCast: [reputation.on_vote_cast, queue_considers_vote],
        events.StatusChanged: [queue_considers_status],
        events.CiRunFinished: [
            reputation.on_ci_run_finished,
            queue_follows_run,
            repro.on_run_finished,
        ],
    }
    # The inbox hears of what the handlers above decided (a vote a review became, an entry
    # the queue ejected) before the webhooks describe it.
    for kind, tell in inbox.SUBSCRIPTIONS.items():
        wiring.setdefault(kind, []).append(tell)
    for kind, send in webhook_subscriptions.SUBSCRIPTIONS.items():
        wiring.setdefault(kind, []).append(send)
    events.configure(wiring)
