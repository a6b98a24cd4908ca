"""What an upload's push options ask of the quality gate: `l=Label+N` votes, given with the
same privileges as in the browser (`forge.gate.votes.record_vote`), and `submit`, which merges
the change when its submit requirements allow it and otherwise refuses the whole push, saying
why, as Gerrit's `%submit` does.

`submit` takes the change's whole topic with it (Gerrit's `change.submitWholeTopic`): every
open change of the repository with that topic, and the changes they depend on, merge together,
parents first, or none does. All of them are checked before the first merges, so a refusal
leaves the branch where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import ForgeError, Invalid
from forge.gate import merging
from forge.gate.quality_gate import admin_may_bypass, submit_status
from forge.gate.votes import record_vote
from forge.models import Change, User
from forge.repos.refs import RefChangeSettings
from forge.review.uploads import Upload


def follow_uploads(
    session: Session,
    pusher: User,
    uploads: list[Upload],
    config: RefChangeSettings,
    say: Callable[[str], None],
) -> None:
    for upload in uploads:
        for label, value in upload.options.labels:
            record_vote(session, pusher, upload.change, label, value, via="push")
            say(f"  {label}{value:+d} on change #{upload.change.number}")
    asked = [upload.change for upload in uploads if upload.options.submit]
    if not asked:
        return
    batch = submission(session, asked)
    for change in batch:
        _check_submittable(session, config.repos_dir, pusher, change, {c.id for c in batch})
    for change in batch:
        try:
            merging.merge_change(
                session, config.repos_dir, change, pusher, "merge", config, via="push"
            )
        except ForgeError as exc:
            raise Invalid(f"change #{change.number} cannot be submitted: {exc.message}") from None
        say(f"Submitted change #{change.number}: merged into {change.base_branch}")


def submission(session: Session, asked: list[Change]) -> list[Change]:
    """What submitting `asked` merges: them, their topics' open changes and the open changes
    those depend on, each after the change it depends on."""
    found: dict[int, Change] = {}
    pending = list(asked)
    for change in asked:
        if change.topic:
            pending += session.scalars(
                select(Change).where(
                    Change.repository_id == change.repository_id,
                    Change.topic == change.topic,
                    Change.state == "open",
                )
            ).all()
    while pending:
        change = pending.pop()
        if change.id in found or change.state != "open":
            continue
        found[change.id] = change
        if change.depends_on is not None:
            pending.append(change.depends_on)
    ordered: list[Change] = []
    placed: set[int] = set()

    def place(change: Change) -> None:
        if change.id in placed:
            return
        placed.add(change.id)
        parent = change.depends_on
        if parent is not None and parent.id in found:
            place(parent)
        ordered.append(change)

    for change in sorted(found.values(), key=lambda c: c.number):
        place(change)
    return ordered


def _check_submittable(
    session: Session, repos_dir: Path, actor: User, change: Change, batch: set[int]
) -> None:
    """Refuse, before anything merges, what merge_change would refuse for this change."""
    why = None
    try:
        require(session, actor, "write", change.repository)
    except ForgeError as exc:
        why = exc.message
    parent = change.depends_on
    if why is None and change.work_in_progress:
        why = "it is work in progress; push with %ready,submit"
    elif why is None and parent is not None and parent.state != "merged" and parent.id not in batch:
        why = f"it depends on change #{parent.number}, which is {parent.state}"
    if why is None:
        status = submit_status(session, repos_dir, change)
        if not status.ready and not admin_may_bypass(session, actor, change):
            why = "the submit requirements are not met: " + "; ".join(status.unmet)
    if why is not None:
        raise Invalid(f"change #{change.number} cannot be submitted: {why}")
