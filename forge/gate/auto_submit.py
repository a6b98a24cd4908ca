"""Auto-submit and auto-merge: a change enters its merge queue by itself once it is
submittable, when the repository's quality gate has auto-submit on or someone enabled
auto-merge on the change, and leaves it when it stops being submittable (a veto arrived).

`consider` runs wherever a change's readiness may have changed: a vote, a commit status (in
the job `forge.jobs.consider_for_merge_queue`, where the repositories are at hand), a patch set.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Invalid
from forge.gate import merging, quality_gate, topics
from forge.gate.merge_queue import active_entry, after_commit_once, enter, enter_batch, leave
from forge.models import Change, ChangeEvent, Repository, User
from forge.models.quality import MergeQueueEntry

CONSIDER_JOB = "forge.jobs.consider_for_merge_queue"


def consider(
    session: Session,
    repos_dir: Path,
    change: Change,
    actor: User | None = None,
    *,
    base_url: str | None = None,
) -> MergeQueueEntry | None:
    """Called wherever a change's readiness may have changed (a vote, a status, a patch
    set): a submittable change enters its queue when the gate's auto-submit is on or someone
    enabled auto-merge; a queued change that stopped being submittable (a veto arrived)
    leaves it, unless an admin queued it past its requirements."""

    if change.state != "open":
        return None
    entry = active_entry(session, change)
    gate = quality_gate.gate_of(session, change.repository)
    auto = (gate.enabled and gate.auto_submit) or change.auto_merge_method is not None
    if entry is None and not auto:
        return None
    status = quality_gate.submit_status(session, repos_dir, change)
    if entry is not None:
        if not status.ready and not entry.bypass:
            leave(
                session, entry, "removed",
                "no longer submittable: " + "; ".join(status.unmet), actor, base_url,
            )  # fmt: skip
            return None
        return entry
    if not status.ready:
        return None
    batch = [change]
    if change.topic:  # the topic enters whole, once every change of it may (forge.gate.topics)
        batch = [
            c for c in topics.submission(session, [change])
            if c.id == change.id or active_entry(session, c) is None
        ]  # fmt: skip
    ids = {c.id for c in batch}
    if any(not _may_enter(session, repos_dir, member, ids) for member in batch):
        return None  # merging would be refused (forge.gate.merging.check_can_merge): wait
    method = change.auto_merge_method or "merge"
    # Whoever's action submits it: who enabled auto-merge, else (auto-submit) whose vote made
    # it submittable; never someone who took no part.
    by = (
        change.auto_merge_by
        if change.auto_merge_method
        else quality_gate.decider_of(session, change)
    )
    why = "auto-merge" if change.auto_merge_method else "auto-submit"
    if len(batch) == 1:
        return enter(session, change, method, by, base_url, why=why)
    entries = enter_batch(session, batch, method, by, base_url, why=why)
    return next(e for e in entries if e.change_id == change.id)


def _may_enter(session: Session, repos_dir: Path, change: Change, landing_with: set[int]) -> bool:
    from forge.accounts import reputation

    if reputation.is_audit(session, change) or change.work_in_progress:
        return False
    parent = change.depends_on
    if parent is not None and parent.state != "merged" and parent.id not in landing_with:
        return False
    return quality_gate.submit_status(session, repos_dir, change).ready


def consider_sha(
    session: Session, repos_dir: Path, repository: Repository, sha: str, actor: User | None
) -> None:
    """A commit status was set on `sha`: the open changes whose head it is may be ready."""
    changes = session.scalars(
        select(Change).where(
            Change.repository_id == repository.id, Change.state == "open", Change.head_sha == sha
        )
    ).all()
    for change in changes:
        consider(session, repos_dir, change, actor)


def schedule_consider(session: Session, repository: Repository, sha: str) -> None:
    """Once this transaction commits, `consider` the open changes whose head is `sha` (in a
    job: a vote or a status is recorded where the repositories' directory is not at hand)."""
    heads = session.scalar(
        select(Change.id).where(
            Change.repository_id == repository.id, Change.state == "open", Change.head_sha == sha
        )
    )
    if heads is not None:
        after_commit_once(session, CONSIDER_JOB, repository.id, sha, base_url=None)


def set_auto_merge(
    session: Session,
    repos_dir: Path,
    actor: User,
    change: Change,
    method: str | None,
    *,
    base_url: str | None = None,
) -> MergeQueueEntry | None:
    """Enable (a method) or disable (None) auto-merge: the change enters the queue as soon as
    it is submittable. The author or a writer of the repository."""
    if actor.id != change.author_id:
        require(session, actor, "write", change.repository)
    else:
        require(session, actor, "read", change.repository)
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}")
    if method is None:
        change.auto_merge_method, change.auto_merge_by_id = None, None
        session.add(ChangeEvent(change_id=change.id, actor_id=actor.id, kind="auto_merge_off"))
        return active_entry(session, change)
    if method not in merging.METHODS:
        raise Invalid(
            f"merge_method must be one of {', '.join(merging.METHODS)}", field="merge_method"
        )
    change.auto_merge_method, change.auto_merge_by_id = method, actor.id
    change.auto_merge_by = actor
    session.add(
        ChangeEvent(change_id=change.id, actor_id=actor.id, kind="auto_merge_on", detail=method)
    )
    session.flush()
    return consider(session, repos_dir, change, actor, base_url=base_url)
