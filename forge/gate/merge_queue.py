"""The merge queue: a change lands on its target branch only as exactly the commit CI tested,
so the branch never breaks (the "not rocket science" rule).

Per target branch, the active `MergeQueueEntry` rows (queued, testing), in the order they
entered, are the queue; the database is the truth. For each entry forge builds the
*speculative merge*: the branch tip, plus every change ahead of it, plus this one, made with
`forge.git.merge` (no work tree) and kept under the hidden ref `refs/merge-queue/<entry id>`
so a CI checkout finds its objects and gc keeps them. CI runs on it (event `merge_queue`);
when the head of the queue has passed, the branch is fast-forwarded to exactly that commit
through `update_refs` (branch protection, push records and webhooks apply, as for any push).
A failure ejects the change (Verified -1 linking the run) and the entries behind it are
rebuilt without it. Without `.forge/ci.yml` a speculative merge that builds lands at once.

An entry's `base_sha` is the commit its speculative merge was built on: the branch tip for
the head of the queue, else the speculative commit of the entry ahead. So an entry whose
base is no longer that (the branch moved from outside, an entry ahead left) is stale and is
rebuilt, and `advance` can be repeated at any time: it only finishes what is due.

What drives it: `advance` runs as the rq job `forge.jobs.advance_merge_queue` after an
entry is added or removed, after a merge-queue CI run finishes, after a push to the branch
from outside the queue, and periodically from the worker's reconcile loop
(`forge.jobs.reconcile_merge_queues`), so a lost job, a killed worker or a restarted
server only delay it. Two workers never advance one repository at once: `advance` holds the
repository's ref lock (a push waits a moment) and, on PostgreSQL, locks the entries' rows.

This module holds the queue's entries: reading the queue, a change entering it (Merge with the
queue in use) and leaving it (removed, closed, a new patch set, ejected, merged), and the job
that advances it, asked for once a transaction commits. Changes that enter by themselves are
`forge.gate.auto_submit`; building and landing the speculative merges,
`forge.gate.speculative_merges`; `advance` itself, `forge.gate.merge_queue_advance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge import events, outbox
from forge.accounts.permissions import can, require
from forge.ci.config import CONFIG_PATH
from forge.db import after_commit, after_rollback, utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import merging, quality_gate, topics
from forge.git import refs as git_refs
from forge.git.checkout import read_file_at
from forge.models import Change, ChangeEvent, CiRun, Repository, User
from forge.models.quality import MERGE_QUEUE_ACTIVE, MergeQueueEntry
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings
from forge.repos.repositories import disk_path

ADVANCE_JOB = "forge.jobs.advance_merge_queue"
VIA = "merge_queue"


def active_entries(
    session: Session, repository: Repository, branch: str | None = None
) -> list[MergeQueueEntry]:
    """The queue(s) of the repository in order: by branch, then first in, first out."""
    query = select(MergeQueueEntry).where(
        MergeQueueEntry.repository_id == repository.id,
        MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE),
    )
    if branch is not None:
        query = query.where(MergeQueueEntry.branch == branch)
    return list(session.scalars(query.order_by(MergeQueueEntry.branch, MergeQueueEntry.id)))


def recent_entries(
    session: Session, repository: Repository, branch: str | None = None, limit: int = 20
) -> list[MergeQueueEntry]:
    """The entries that left the queue lately (merged, ejected, removed), newest first."""
    query = select(MergeQueueEntry).where(
        MergeQueueEntry.repository_id == repository.id,
        MergeQueueEntry.state.not_in(MERGE_QUEUE_ACTIVE),
    )
    if branch is not None:
        query = query.where(MergeQueueEntry.branch == branch)
    return list(session.scalars(query.order_by(MergeQueueEntry.id.desc()).limit(limit)))


def run_states(session: Session, entries: list[MergeQueueEntry]) -> dict[int, str]:
    """The state of each entry's CI run (queued, running, passed, ...), by run id."""
    ids = {entry.ci_run_id for entry in entries if entry.ci_run_id}
    if not ids:
        return {}
    return dict(session.execute(select(CiRun.id, CiRun.state).where(CiRun.id.in_(ids))).all())


def active_entry(session: Session, change: Change) -> MergeQueueEntry | None:
    return session.scalar(
        select(MergeQueueEntry).where(
            MergeQueueEntry.change_id == change.id,
            MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE),
        )
    )


def latest_entry(session: Session, change: Change) -> MergeQueueEntry | None:
    """The change's entry now in the queue, else the last one it had."""
    return session.scalar(
        select(MergeQueueEntry)
        .where(MergeQueueEntry.change_id == change.id)
        .order_by(MergeQueueEntry.id.desc())
        .limit(1)
    )


def position_of(session: Session, entry: MergeQueueEntry) -> int | None:
    """1 for the head of its branch's queue; None once it left the queue."""
    if entry.state not in MERGE_QUEUE_ACTIVE:
        return None
    ahead = session.scalar(
        select(func.count(MergeQueueEntry.id)).where(
            MergeQueueEntry.repository_id == entry.repository_id,
            MergeQueueEntry.branch == entry.branch,
            MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE),
            MergeQueueEntry.id < entry.id,
        )
    )
    return ahead + 1


def may_remove(session: Session, user: User | None, entry: MergeQueueEntry) -> bool:
    if user is None or entry.state not in MERGE_QUEUE_ACTIVE:
        return False
    return user.id == entry.change.author_id or can(session, user, "write", entry.repository)


def queue_in_use(session: Session, repos_dir: Path, change: Change) -> bool:
    """Does Merge mean "add to the merge queue" for this change? When its branch's queue has
    entries (merging past them would invalidate what they test), or when the quality gate is
    on and the branch has CI to run on the speculative merge."""

    if active_entries(session, change.repository, change.base_branch):
        return True
    if not quality_gate.gate_of(session, change.repository).enabled:
        return False
    with open_git(repos_dir, change.repository) as git:
        tip = git_refs.current_value(git, f"refs/heads/{change.base_branch}")
    if tip == git_refs.ZERO:
        return False
    return read_file_at(disk_path(repos_dir, change.repository), tip, CONFIG_PATH) is not None


@dataclass
class Submitted:
    """What a Merge did: landed the change (`merged_sha`) or gave it a place (`entry`);
    `together` holds the changes of its topic (forge.gate.topics) that went with it."""

    merged_sha: str | None = None
    entry: MergeQueueEntry | None = None
    together: list[Change] = field(default_factory=list)


def submit(
    session: Session,
    repos_dir: Path,
    actor: User,
    change: Change,
    method: str,
    config: RefChangeSettings,
    *,
    expected_head_sha: str | None = None,
    commit_title: str | None = None,
    commit_message: str | None = None,
    via: str = "web",
    base_url: str | None = None,
) -> Submitted:
    """Merge as the web's button and the API's `PUT .../merge` mean it: while the branch's
    queue is in use, a place in the queue (the branch only ever moves to a commit CI tested);
    otherwise the change lands now. A change of a topic takes its whole topic with it, in
    the queue or now, or refuses naming the change that blocks (forge.gate.topics)."""
    batch = topics.submission(session, [change]) if change.topic else [change]
    if queue_in_use(session, repos_dir, change):
        merging.check_head(change, expected_head_sha)
        entry = enqueue(session, repos_dir, actor, change, method, base_url=base_url)
        mates = [e.change for e in batch_of(session, entry) if e.id != entry.id]
        return Submitted(entry=entry, together=mates)
    if topics.is_whole_topic(batch):
        landed = topics.merge_together(
            session, repos_dir, actor, batch, method, config, via=via, asked=change,
            expected_head_sha=expected_head_sha, commit_title=commit_title,
            commit_message=commit_message,
        )  # fmt: skip
        together = [c for c in batch if c.id != change.id]
        return Submitted(merged_sha=landed[change.id], together=together)
    merged = merging.merge_change(
        session,
        repos_dir,
        change,
        actor,
        method,
        config,
        expected_head_sha=expected_head_sha,
        commit_title=commit_title,
        commit_message=commit_message,
        via=via,
    )
    return Submitted(merged_sha=merged)


def enqueue(
    session: Session,
    repos_dir: Path,
    actor: User,
    change: Change,
    method: str = "merge",
    *,
    base_url: str | None = None,
) -> MergeQueueEntry:
    """Put a submittable change in its branch's queue (a writer's Merge with the queue on).

    A repository admin may queue a change whose submit requirements are unmet (as GitHub
    lets admins bypass branch protection) unless the branch's protection enforces rules for
    admins; the bypass and what it skipped are on the change's timeline. CI still tests the
    speculative merge: a bypass skips the votes, never the test.

    A change of a topic brings the topic's other changes not yet queued (forge.gate.topics):
    all enter, one after the other, as one batch that lands as one ref update, or none
    enters and the refusal names the change that blocks.
    """

    require(session, actor, "write", change.repository)
    batch = [change]
    if change.topic:
        batch = [
            c for c in topics.submission(session, [change])
            if c.id == change.id or active_entry(session, c) is None
        ]  # fmt: skip
    landing_with = {c.id for c in batch}
    unmet: dict[int, str] = {}
    for member in batch:
        _check_can_enter(session, member, method, landing_with)
        status = quality_gate.submit_status(session, repos_dir, member)
        if not status.ready:
            if not quality_gate.admin_may_bypass(session, actor, member):
                raise Invalid(
                    f"change #{member.number} cannot be submitted yet: "
                    + "; ".join(status.unmet) + topics.topic_note(member, batch),
                    field="submit",
                )  # fmt: skip
            unmet[member.id] = "; ".join(status.unmet)
    entries = enter_batch(session, batch, method, actor, base_url, unmet=unmet)
    for member in batch:
        if member.id in unmet:
            session.add(
                ChangeEvent(
                    change_id=member.id, actor_id=actor.id, kind="queue_bypass",
                    detail=unmet[member.id],
                )
            )  # fmt: skip
    return next(entry for entry in entries if entry.change_id == change.id)


def enter_batch(
    session: Session,
    batch: list[Change],
    method: str,
    by: User | None,
    base_url: str | None,
    *,
    why: str = "",
    unmet: dict[int, str] | None = None,
) -> list[MergeQueueEntry]:
    """The changes of `batch` (ordered by forge.gate.topics.submission) enter one after the
    other; more than one share a batch, the first entry's id, and land or leave together."""
    entries: list[MergeQueueEntry] = []
    for member in batch:
        reason = why
        if len(batch) > 1:
            reason = f"{why + ', ' if why else ''}with its topic {member.topic or ''}".strip()
        batch_id = entries[0].id if entries else None
        entry = enter(session, member, method, by, base_url, bypass=member.id in (unmet or {}),
                      why=reason, batch_id=batch_id)  # fmt: skip
        if len(batch) > 1 and batch_id is None:
            entry.batch_id = entry.id
        entries.append(entry)
    return entries


def _check_can_enter(
    session: Session, change: Change, method: str, landing_with: set[int] = frozenset()
) -> None:
    merging.check_can_merge(session, change, method, landing_with=landing_with)
    if active_entry(session, change) is not None:
        raise Invalid(f"change #{change.number} is in the merge queue already", field="queue")


def batch_of(session: Session, entry: MergeQueueEntry) -> list[MergeQueueEntry]:
    """The entries that land with `entry` (its topic's, in the queue now), itself included."""
    if entry.batch_id is None:
        return [entry] if entry.state in MERGE_QUEUE_ACTIVE else []
    return list(
        session.scalars(
            select(MergeQueueEntry)
            .where(
                MergeQueueEntry.batch_id == entry.batch_id,
                MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE),
            )
            .order_by(MergeQueueEntry.id)
        )
    )


def enter(
    session: Session,
    change: Change,
    method: str,
    by: User | None,
    base_url: str | None,
    *,
    bypass: bool = False,
    why: str = "",
    batch_id: int | None = None,
) -> MergeQueueEntry:
    entry = MergeQueueEntry(
        repository_id=change.repository_id,
        branch=change.base_branch,
        change=change,
        method=method,
        enqueued_by_id=by.id if by is not None else None,
        bypass=bypass,
        reason=why,
        batch_id=batch_id,
    )
    entry.repository = change.repository
    session.add(entry)
    session.flush()
    session.add(
        ChangeEvent(
            change_id=change.id, actor_id=by.id if by else None, kind="queue_added",
            detail=why or method,
        )
    )  # fmt: skip
    announce(session, entry, "queued", by, base_url)
    schedule_advance(session, change.repository_id, change.base_branch, base_url)
    return entry


def remove(
    session: Session,
    actor: User,
    change: Change,
    *,
    base_url: str | None = None,
) -> MergeQueueEntry:
    """Take a change out of its queue: its author or a writer of the repository."""
    entry = active_entry(session, change)
    if entry is None:
        require(session, actor, "read", change.repository)
        raise NotFound(f"change #{change.number} is not in the merge queue")
    if not may_remove(session, actor, entry):
        require(session, actor, "read", change.repository)
        raise Forbidden(
            "only the change's author or someone with the write role may take it out of the queue"
        )
    leave(session, entry, "removed", f"removed by {actor.name}", actor, base_url)
    return entry


def leave(
    session: Session,
    entry: MergeQueueEntry,
    state: str,
    reason: str,
    sender: User | None,
    base_url: str | None,
) -> None:
    """The entry leaves the queue; the entries behind it are rebuilt by the next advance
    (their base is now stale), and its run, if still going, is cancelled. The entries of its
    topic's batch leave with it, in the same state (a topic lands whole or not at all)."""
    if entry.state not in MERGE_QUEUE_ACTIVE:
        return  # it left already, with an entry of its batch
    _leave_one(session, entry, state, reason, sender, base_url)
    if state == "merged" or entry.batch_id is None:
        return
    for mate in batch_of(session, entry):
        why = f"change #{entry.change.number} of its topic left the merge queue: {reason}"
        _leave_one(session, mate, state, why, sender, base_url)


def _leave_one(session, entry, state, reason, sender, base_url) -> None:
    from forge.ci import runs as ci

    entry.state, entry.reason = state, reason
    entry.updated_at = utcnow()
    run = session.get(CiRun, entry.ci_run_id) if entry.ci_run_id else None
    if run is not None and state != "merged":
        ci.abandon(session, run, f"change #{entry.change.number} left the merge queue")
    if state != "merged":
        session.add(
            ChangeEvent(
                change_id=entry.change_id, actor_id=sender.id if sender else None,
                kind=f"queue_{state}", detail=reason,
            )
        )  # fmt: skip
    announce(session, entry, state, sender, base_url)
    schedule_advance(session, entry.repository_id, entry.branch, base_url)


def on_new_patch_set(session: Session, change: Change, uploader: User | None) -> None:
    """A new patch set of a queued change takes it out: what was approved and tested is gone,
    it must pass again (and re-enters by itself when it does, with auto-submit)."""
    entry = active_entry(session, change)
    if entry is not None:
        number = change.current_patch_set.number
        leave(
            session, entry, "removed",
            f"patch set {number} was uploaded; it must be approved and pass again",
            uploader, None,
        )  # fmt: skip


def on_closed(session: Session, change: Change, actor: User | None) -> None:
    """A change closed while queued leaves the queue (a closed change never lands)."""
    entry = active_entry(session, change)
    if entry is not None:
        leave(session, entry, "removed", "the change was closed", actor, None)


def schedule_advance(
    session: Session, repository_id: int, branch: str, base_url: str | None = None
) -> None:
    """Once this transaction commits, ask a worker to advance the branch's queue (the
    session's `info["forge.enqueue"]`; without it the periodic reconcile does it)."""
    key = (repository_id, branch)
    if session.info.get("forge.merge_queue_advancing") == key:
        return  # advance itself goes on until nothing is due
    after_commit_once(session, ADVANCE_JOB, repository_id, branch, base_url=base_url)


def after_commit_once(session: Session, job: str, *args, base_url: str | None) -> None:
    """Queue `job(*args, base_url)` once this transaction commits, through the outbox (so it
    is never lost with the commit standing, nor run when the transaction rolls back); once
    per transaction and job."""
    pending = session.info.setdefault("forge.merge_queue_pending", set())
    key = (job, *args)
    if key in pending:
        return
    pending.add(key)
    url = base_url or session.info.get("forge.base_url") or ""
    outbox.put(session, "default", job, *args, url)
    after_commit(session, lambda: pending.discard(key))
    after_rollback(session, lambda: pending.discard(key))


def announce(session, entry: MergeQueueEntry, action: str, sender, base_url) -> None:
    events.publish(
        session,
        events.MergeQueueChanged(
            change=entry.change, entry=entry, sender=sender, action=action, base_url=base_url
        ),
    )
