"""The merge queue's speculative merges: building, for each entry, the branch tip plus every
change ahead of it plus this one (kept under `refs/merge-queue/<entry id>`) and asking CI to
test it; landing the head's once it passed (the branch fast-forwards to exactly that commit);
ejecting an entry that conflicts, failed or that the branch refuses.
`forge.gate.merge_queue_advance` decides when each is due.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import ROLE_RANK, role_of
from forge.accounts.privileges import VERIFIED
from forge.db import utcnow
from forge.errors import Forbidden, Invalid
from forge.gate import merging, quality_gate
from forge.gate import votes as vote_service
from forge.gate.merge_queue import VIA, announce, leave
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.models import CiRun, User
from forge.models.quality import MERGE_QUEUE_ACTIVE, MergeQueueEntry
from forge.repos.refs import update_refs
from forge.repos.repositories import disk_path

HIDDEN_REF = "refs/merge-queue/{id}"


@dataclass
class Step:
    """One thing `advance` did, for logs and the benchmark."""

    change_number: int
    state: str  # testing, merged, ejected
    sha: str | None = None


def is_current(entry: MergeQueueEntry, parent: str) -> bool:
    return entry.state == "testing" and bool(entry.speculative_sha) and entry.base_sha == parent


def _merger(session: Session, entry: MergeQueueEntry) -> User:
    """Who the change lands as: whoever queued it (pressed Merge, enabled auto-merge, or gave
    the vote that made it submittable), else whose vote makes it submittable now; never an
    account that took no part. Without either it lands as forge's own identity."""

    by = session.get(User, entry.enqueued_by_id) if entry.enqueued_by_id else None
    if by is not None and by.is_active:
        return by
    return quality_gate.decider_of(session, entry.change) or vote_service.ci_voter(session)


def _landing_role(session: Session, entry: MergeQueueEntry, merger: User) -> str:
    """The role the landing pushes with: the merger's own when they may write; otherwise the
    gate's decision acts for them with exactly the write role, so the branch's protection
    still applies in full."""
    role = role_of(session, merger, entry.repository)
    if role is not None and ROLE_RANK[role] >= ROLE_RANK["write"]:
        return role
    return "write"


def landing_span(entries: list[MergeQueueEntry]) -> list[MergeQueueEntry]:
    """What lands when the head of the queue does: the head alone, or, for a topic's batch,
    everything up to its last entry (whose speculative merge holds them all, and whatever
    entered between them)."""
    head = entries[0]
    if head.batch_id is None:
        return [head]
    last = max(i for i, e in enumerate(entries) if e.batch_id == head.batch_id)
    return entries[: last + 1]


def span_is_current(span: list[MergeQueueEntry], tip: str) -> bool:
    parent = tip
    for entry in span:
        if not is_current(entry, parent):
            return False
        parent = entry.speculative_sha
    return True


def land(session, repos_dir, git, span: list[MergeQueueEntry], tip: str, config, steps) -> bool:
    """Fast-forward the branch to exactly the tested commit of the span's last entry, one ref
    update for all of them; True if it moved. A change that stopped being submittable while
    CI ran (a veto, a maintainer's Verified -1) leaves the queue instead (its topic with it),
    unless an admin queued it past its requirements."""

    for entry in span:
        if entry.bypass:
            continue
        status = quality_gate.submit_status(session, repos_dir, entry.change)
        if not status.ready:
            why = "its submit requirements are no longer met: " + "; ".join(status.unmet)
            leave(session, entry, "removed", why, None, config.base_url)
            steps.append(Step(entry.change.number, "removed"))
            return False
    last = span[-1]
    new = last.speculative_sha
    merger = _merger(session, last)
    try:
        update_refs(
            session, last.repository, git, merger,
            [RefUpdate(f"refs/heads/{last.branch}", tip, new)], config,
            via=VIA, change=last.change,
            # Branch protection's required reviews hold for each change landing.
            approvals=min(merging.approvals(session, e.change) for e in span),
            role=_landing_role(session, last, merger),
        )  # fmt: skip
    except (Forbidden, Invalid) as exc:
        eject(session, span[0], f"the branch refused it: {exc.message}", None, config)
        steps.append(Step(span[0].change.number, "ejected"))
        return False
    for entry in span:
        landed_as = entry.speculative_sha
        by = _merger(session, entry)
        merging.record_merged(session, entry.change, by, entry.method, landed_as, config.base_url)
        leave(session, entry, "merged", f"merged as {landed_as[:12]}", by, config.base_url)
        steps.append(Step(entry.change.number, "merged", landed_as))
    return True


def eject(session, entry: MergeQueueEntry, reason: str, run: CiRun | None, config) -> None:

    leave(session, entry, "ejected", reason, None, config.base_url)
    # A run someone cancelled says nothing about the change: it leaves without a verdict.
    if run is not None and run.state != "cancelled" and entry.change.state == "open":
        # The change's own CI may be green: the merge queue's verdict on the merge is what
        # the next reader must see, until a new patch set passes again.
        vote_service.record_vote(
            session, None, entry.change, VERIFIED, -1,
            f"Ejected from the merge queue of {entry.branch}: {reason}"[:1000], via="ci",
        )  # fmt: skip


def build(session, repos_dir, git, entries, tip: str, config, steps) -> bool:
    """(Re)build the speculative merges that are missing or stale and ask CI to test them;
    True when something changed that may let the head land or leave at once."""
    from forge.ci import runs as ci

    parent, changed = tip, False
    repo = entries[0].repository
    repo_path = disk_path(repos_dir, repo)
    ahead: list[MergeQueueEntry] = []
    for entry in entries:
        if entry.state not in MERGE_QUEUE_ACTIVE:
            continue  # ejected above with an entry of its topic's batch
        if is_current(entry, parent):
            parent = entry.speculative_sha
            ahead.append(entry)
            continue
        old_run = session.get(CiRun, entry.ci_run_id) if entry.ci_run_id else None
        merger = _merger(session, entry)
        identity = git_merge.Identity(merger.full_name or merger.name, merger.email)
        try:
            spec = merging.landing_commit(git, parent, entry.change, entry.method, identity)
        except git_merge.MergeConflict as exc:
            eject(session, entry, _conflict(git, tip, entry, ahead, exc), None, config)
            steps.append(Step(entry.change.number, "ejected"))
            changed = True
            continue
        if old_run is not None and old_run.sha != spec:
            ci.abandon(session, old_run, "the merge queue rebuilt the commit it tested")
        hidden = HIDDEN_REF.format(id=entry.id)
        git_refs.apply_updates(git, [RefUpdate(hidden, git_refs.current_value(git, hidden), spec)])
        run = ci.request_run(
            session, repo_path, repo, spec, event_name="merge_queue", ref=entry.branch,
            actor=merger,
        )  # fmt: skip
        entry.base_sha, entry.speculative_sha = parent, spec
        entry.ci_run_id = run.id if run is not None else None
        entry.reason = "" if entry.reason in ("auto-submit", "auto-merge") else entry.reason
        was = entry.state
        entry.state, entry.updated_at = "testing", utcnow()
        if was != "testing":
            announce(session, entry, "testing", None, config.base_url)
        steps.append(Step(entry.change.number, "testing", spec))
        changed = True
        parent = spec
        ahead.append(entry)
    return changed


def _conflict(git, tip: str, entry: MergeQueueEntry, ahead, exc) -> str:
    branch = entry.branch
    if not ahead or git_merge.check_mergeable(git, tip, entry.change.head_sha):
        return f"conflicts with {branch} in {', '.join(exc.paths)}; it needs a rebase"
    numbers = ", ".join(f"#{e.change.number}" for e in ahead)
    return (
        f"conflicts with the changes ahead of it in the queue ({numbers}) in "
        f"{', '.join(exc.paths)}; rebase it once they landed"
    )


def prune_hidden_refs(session: Session, git) -> None:
    """Drop the hidden refs of entries that left the queue (their commits are merged or no
    longer wanted)."""
    refs = git_refs.list_refs(git, "refs/merge-queue/")
    ids = {int(name.rsplit("/", 1)[1]) for name, _sha in refs if name.rsplit("/", 1)[1].isdigit()}
    if not ids:
        return
    alive = set(
        session.scalars(
            select(MergeQueueEntry.id).where(
                MergeQueueEntry.id.in_(ids), MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE)
            )
        )
    )
    gone = [
        RefUpdate(name, sha, git_refs.ZERO)
        for name, sha in refs
        if name.rsplit("/", 1)[1].isdigit() and int(name.rsplit("/", 1)[1]) not in alive
    ]
    if gone:
        git_refs.apply_updates(git, gone)
