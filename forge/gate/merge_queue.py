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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge import events, outbox
from forge.accounts.permissions import ROLE_RANK, can, require, role_of
from forge.accounts.privileges import VERIFIED
from forge.ci.config import CONFIG_PATH
from forge.db import Database, after_commit, after_rollback, utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import merging, quality_gate
from forge.gate import votes as vote_service
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.checkout import read_file_at
from forge.git.refs import RefUpdate
from forge.models import Change, ChangeEvent, CiRun, Repository, User
from forge.models.ci import FINISHED
from forge.models.quality import MERGE_QUEUE_ACTIVE, MergeQueueEntry
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings, update_refs
from forge.repos.repositories import disk_path

HIDDEN_REF = "refs/merge-queue/{id}"
ADVANCE_JOB = "forge.jobs.advance_merge_queue"
CONSIDER_JOB = "forge.jobs.consider_for_merge_queue"
# A merge-queue run that *errored* (its worker was lost, the machine could not run it) is
# not the change's fault: it is run again this many times before the change is ejected.
MAX_ATTEMPTS = 3
VIA = "merge_queue"


# --- reading the queue ------------------------------------------------------------------------


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


# --- entering and leaving ---------------------------------------------------------------------


@dataclass
class Submitted:
    """What a Merge did: landed the change (`merged_sha`) or gave it a place (`entry`)."""

    merged_sha: str | None = None
    entry: MergeQueueEntry | None = None


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
    otherwise the change lands now."""
    if queue_in_use(session, repos_dir, change):
        merging.check_head(change, expected_head_sha)
        entry = enqueue(session, repos_dir, actor, change, method, base_url=base_url)
        return Submitted(entry=entry)
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
    """

    require(session, actor, "write", change.repository)
    _check_can_enter(session, change, method)
    status = quality_gate.submit_status(session, repos_dir, change)
    bypass = False
    if not status.ready:
        if not quality_gate.admin_may_bypass(session, actor, change):
            raise Invalid(
                f"change #{change.number} cannot be submitted yet: " + "; ".join(status.unmet),
                field="submit",
            )
        bypass = True
    entry = _enter(session, change, method, actor, base_url, bypass=bypass)
    if bypass:
        session.add(
            ChangeEvent(
                change_id=change.id, actor_id=actor.id, kind="queue_bypass",
                detail="; ".join(status.unmet),
            )
        )  # fmt: skip
    return entry


def _check_can_enter(session: Session, change: Change, method: str) -> None:
    merging.check_can_merge(session, change, method)
    if active_entry(session, change) is not None:
        raise Invalid(f"change #{change.number} is in the merge queue already", field="queue")


def _enter(
    session: Session,
    change: Change,
    method: str,
    by: User | None,
    base_url: str | None,
    *,
    bypass: bool = False,
    why: str = "",
) -> MergeQueueEntry:
    entry = MergeQueueEntry(
        repository_id=change.repository_id,
        branch=change.base_branch,
        change=change,
        method=method,
        enqueued_by_id=by.id if by is not None else None,
        bypass=bypass,
        reason=why,
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
    _announce(session, entry, "queued", by, base_url)
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
    _leave(session, entry, "removed", f"removed by {actor.name}", actor, base_url)
    return entry


def _leave(
    session: Session,
    entry: MergeQueueEntry,
    state: str,
    reason: str,
    sender: User | None,
    base_url: str | None,
) -> None:
    """The entry leaves the queue; the entries behind it are rebuilt by the next advance
    (their base is now stale), and its run, if still going, is cancelled."""
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
    _announce(session, entry, state, sender, base_url)
    schedule_advance(session, entry.repository_id, entry.branch, base_url)


def on_new_patch_set(session: Session, change: Change, uploader: User | None) -> None:
    """A new patch set of a queued change takes it out: what was approved and tested is gone,
    it must pass again (and re-enters by itself when it does, with auto-submit)."""
    entry = active_entry(session, change)
    if entry is not None:
        number = change.current_patch_set.number
        _leave(
            session, entry, "removed",
            f"patch set {number} was uploaded; it must be approved and pass again",
            uploader, None,
        )  # fmt: skip


def on_closed(session: Session, change: Change, actor: User | None) -> None:
    """A change closed while queued leaves the queue (a closed change never lands)."""
    entry = active_entry(session, change)
    if entry is not None:
        _leave(session, entry, "removed", "the change was closed", actor, None)


# --- auto-submit and auto-merge ---------------------------------------------------------------


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
            _leave(
                session, entry, "removed",
                "no longer submittable: " + "; ".join(status.unmet), actor, base_url,
            )  # fmt: skip
            return None
        return entry
    if not status.ready:
        return None
    from forge.accounts import reputation

    if reputation.is_audit(session, change):
        return None
    method = change.auto_merge_method or "merge"
    # Whoever's action submits it: who enabled auto-merge, else (auto-submit) whose vote made
    # it submittable; never someone who took no part.
    by = (
        change.auto_merge_by
        if change.auto_merge_method
        else quality_gate.decider_of(session, change)
    )
    why = "auto-merge" if change.auto_merge_method else "auto-submit"
    return _enter(session, change, method, by, base_url, why=why)


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
        _after_commit_once(session, CONSIDER_JOB, repository.id, sha, base_url=None)


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


# --- driving the engine -----------------------------------------------------------------------


def schedule_advance(
    session: Session, repository_id: int, branch: str, base_url: str | None = None
) -> None:
    """Once this transaction commits, ask a worker to advance the branch's queue (the
    session's `info["forge.enqueue"]`; without it the periodic reconcile does it)."""
    key = (repository_id, branch)
    if session.info.get("forge.merge_queue_advancing") == key:
        return  # advance itself goes on until nothing is due
    _after_commit_once(session, ADVANCE_JOB, repository_id, branch, base_url=base_url)


def _after_commit_once(session: Session, job: str, *args, base_url: str | None) -> None:
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


def on_run_finished(session: Session, run: CiRun) -> None:
    """A CI run ended: advance the queues that wait for it, and, for a run of a change's
    head, see whether the change became submittable (its Verified comes from those
    statuses) in a job of its own, where the repositories are at hand."""
    if session is None:
        return
    branches = session.execute(
        select(MergeQueueEntry.repository_id, MergeQueueEntry.branch)
        .where(MergeQueueEntry.ci_run_id == run.id, MergeQueueEntry.state == "testing")
        .distinct()
    ).all()
    for repository_id, branch in branches:
        schedule_advance(session, repository_id, branch, run.base_url)
    if run.event != "merge_queue":
        session.info.setdefault("forge.base_url", run.base_url)
        schedule_consider(session, run.repository, run.sha)


def on_branch_moved(session: Session, repository: Repository, branch: str, base_url: str) -> None:
    """A push from outside the queue moved the branch: rebuild its queue on the new tip."""
    if active_entries(session, repository, branch):
        schedule_advance(session, repository.id, branch, base_url)


def branches_with_entries(session: Session) -> list[tuple[int, str]]:
    """(repository id, branch) of every queue that has entries, for the periodic pass."""
    rows = session.execute(
        select(MergeQueueEntry.repository_id, MergeQueueEntry.branch)
        .where(MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE))
        .distinct()
    ).all()
    return [(r, b) for r, b in rows]


def known_base_url(session: Session, repository_id: int) -> str:
    """The forge's external URL as the repository's last CI run knew it (a worker has no
    request to take it from when FORGE_BASE_URL is unset)."""
    found = session.scalar(
        select(CiRun.base_url)
        .where(CiRun.repository_id == repository_id, CiRun.base_url != "")
        .order_by(CiRun.id.desc())
        .limit(1)
    )
    return found or ""


@dataclass
class Step:
    """One thing `advance` did, for logs and the benchmark."""

    change_number: int
    state: str  # testing, merged, ejected
    sha: str | None = None


def advance(
    session: Session,
    repos_dir: Path,
    config: RefChangeSettings,
    repository: Repository,
    branch: str,
) -> list[Step]:
    """Do what is due in the branch's queue: land the head if its run passed, eject it if its
    run failed, and (re)build and test the speculative merges that are missing or stale.
    Idempotent; the caller commits (inside the lock, see `forge.jobs`)."""
    session.info.setdefault("forge.base_url", config.base_url)
    if config.enqueue is not None:
        session.info.setdefault("forge.enqueue", config.enqueue)
    session.info["forge.merge_queue_advancing"] = (repository.id, branch)
    try:
        return _advance(session, repos_dir, config, repository, branch)
    finally:
        session.info.pop("forge.merge_queue_advancing", None)


def advance_committed(
    database: Database,
    repos_dir: Path,
    config: RefChangeSettings,
    repository_id: int,
    branch: str,
) -> list[Step]:
    """`advance` in a transaction of its own, committed while the repository's ref lock is
    still held, so the next advance (another worker's) starts from what this one wrote."""
    with database.session() as session:
        repository = session.get(Repository, repository_id)
        if repository is None:
            return []
        git = open_git(repos_dir, repository)
    with git, git_refs.locked_refs(git), database.session() as session:
        repository = session.get(Repository, repository_id)
        if repository is None:
            return []
        return advance(session, repos_dir, config, repository, branch)


def _advance(session, repos_dir, config, repository, branch) -> list[Step]:
    steps: list[Step] = []
    with open_git(repos_dir, repository) as git, git_refs.locked_refs(git):
        ref = f"refs/heads/{branch}"
        for _round in range(1000):
            entries = _locked_entries(session, repository, branch)
            gone = [e for e in entries if e.change.state != "open"]
            for entry in gone:  # closed, or merged past the queue: nothing left to land
                why = f"the change was {entry.change.state} outside the merge queue"
                _leave(session, entry, "removed", why, None, config.base_url)
                steps.append(Step(entry.change.number, "removed"))
            if gone:
                continue
            if not entries:
                break
            tip = git_refs.current_value(git, ref)
            if tip == git_refs.ZERO:
                for entry in entries:
                    _eject(session, entry, f"the branch {branch} no longer exists", None, config)
                    steps.append(Step(entry.change.number, "ejected"))
                break
            head = entries[0]
            if _is_current(head, tip):
                verdict, run = _verdict(session, repos_dir, head)
                if verdict == "passed":
                    if _land(session, repos_dir, git, head, tip, config, steps):
                        # The branch moved: this transaction must commit with it, alone, so
                        # nothing later in the round can roll back what git already did.
                        # Another advance takes up the rest once it has.
                        _after_commit_once(
                            session, ADVANCE_JOB, repository.id, branch, base_url=config.base_url
                        )
                        break
                    continue
                elif verdict == "failed":
                    _eject(session, head, _failure(run), run, config)
                    steps.append(Step(head.change.number, "ejected"))
                    continue
            if not _build(session, repos_dir, git, entries, tip, config, steps):
                break
        _prune_hidden_refs(session, git)
        session.flush()
    return steps


def _locked_entries(session: Session, repository: Repository, branch: str):
    query = (
        select(MergeQueueEntry)
        .where(
            MergeQueueEntry.repository_id == repository.id,
            MergeQueueEntry.branch == branch,
            MergeQueueEntry.state.in_(MERGE_QUEUE_ACTIVE),
        )
        .order_by(MergeQueueEntry.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Another host's worker (shared filesystem, so flock may not reach) waits here.
        query = query.with_for_update(of=MergeQueueEntry)
    return list(session.scalars(query))


def _is_current(entry: MergeQueueEntry, parent: str) -> bool:
    return entry.state == "testing" and bool(entry.speculative_sha) and entry.base_sha == parent


def _verdict(session: Session, repos_dir: Path, entry: MergeQueueEntry):
    """("passed" | "failed" | "pending", run) for the head's speculative merge."""
    from forge.ci import runs as ci

    run = session.get(CiRun, entry.ci_run_id) if entry.ci_run_id else None
    if run is None:
        repo_path = disk_path(repos_dir, entry.repository)
        if read_file_at(repo_path, entry.speculative_sha, CONFIG_PATH) is None:
            return "passed", None  # nothing to run: it merged cleanly, that is the test
        entry.speculative_sha = None  # its run is gone: build and test it again
        return "pending", None
    if run.state == "passed":
        return "passed", run
    if run.state not in FINISHED:
        return "pending", run
    if run.state == "errored" and run.jobs and run.attempt < MAX_ATTEMPTS:
        ci.retry(session, run, "run again by the merge queue: the last attempt errored")
        return "pending", run
    return "failed", run


def _failure(run: CiRun | None) -> str:
    if run is None:
        return "its CI run could not be found"
    from forge.ci import runs as ci

    failed = [j for j in run.jobs if j.state != "passed"]
    if not failed:
        what = run.reason or run.state
    else:
        what = ", ".join(f"{j.name} {j.state.replace('_', ' ')}" for j in failed)
    return f"CI {run.state.replace('_', ' ')} on the speculative merge ({what}): {ci.run_url(run)}"


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


def _land(session, repos_dir, git, entry: MergeQueueEntry, tip: str, config, steps) -> bool:
    """Fast-forward the branch to exactly the tested commit; True if it moved. A change that
    stopped being submittable while CI ran (a veto, a maintainer's Verified -1) leaves the
    queue instead, unless an admin queued it past its requirements."""

    change, new = entry.change, entry.speculative_sha
    if not entry.bypass:
        status = quality_gate.submit_status(session, repos_dir, change)
        if not status.ready:
            why = "its submit requirements are no longer met: " + "; ".join(status.unmet)
            _leave(session, entry, "removed", why, None, config.base_url)
            steps.append(Step(change.number, "removed"))
            return False
    merger = _merger(session, entry)
    try:
        update_refs(
            session, entry.repository, git, merger,
            [RefUpdate(f"refs/heads/{entry.branch}", tip, new)], config,
            via=VIA, change=change, approvals=merging.approvals(session, change),
            role=_landing_role(session, entry, merger),
        )  # fmt: skip
    except (Forbidden, Invalid) as exc:
        _eject(session, entry, f"the branch refused it: {exc.message}", None, config)
        steps.append(Step(change.number, "ejected"))
        return False
    merging.record_merged(session, change, merger, entry.method, new, config.base_url)
    _leave(session, entry, "merged", f"merged as {new[:12]}", merger, config.base_url)
    steps.append(Step(change.number, "merged", new))
    return True


def _eject(session, entry: MergeQueueEntry, reason: str, run: CiRun | None, config) -> None:

    _leave(session, entry, "ejected", reason, None, config.base_url)
    # A run someone cancelled says nothing about the change: it leaves without a verdict.
    if run is not None and run.state != "cancelled" and entry.change.state == "open":
        # The change's own CI may be green: the merge queue's verdict on the merge is what
        # the next reader must see, until a new patch set passes again.
        vote_service.record_vote(
            session, None, entry.change, VERIFIED, -1,
            f"Ejected from the merge queue of {entry.branch}: {reason}"[:1000], via="ci",
        )  # fmt: skip


def _build(session, repos_dir, git, entries, tip: str, config, steps) -> bool:
    """(Re)build the speculative merges that are missing or stale and ask CI to test them;
    True when something changed that may let the head land or leave at once."""
    from forge.ci import runs as ci

    parent, changed = tip, False
    repo = entries[0].repository
    repo_path = disk_path(repos_dir, repo)
    ahead: list[MergeQueueEntry] = []
    for entry in entries:
        if _is_current(entry, parent):
            parent = entry.speculative_sha
            ahead.append(entry)
            continue
        old_run = session.get(CiRun, entry.ci_run_id) if entry.ci_run_id else None
        merger = _merger(session, entry)
        identity = git_merge.Identity(merger.full_name or merger.name, merger.email)
        try:
            spec = merging.landing_commit(git, parent, entry.change, entry.method, identity)
        except git_merge.MergeConflict as exc:
            _eject(session, entry, _conflict(git, tip, entry, ahead, exc), None, config)
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
            _announce(session, entry, "testing", None, config.base_url)
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


def _prune_hidden_refs(session: Session, git) -> None:
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


def _announce(session, entry: MergeQueueEntry, action: str, sender, base_url) -> None:
    events.publish(
        session,
        events.MergeQueueChanged(
            change=entry.change, entry=entry, sender=sender, action=action, base_url=base_url
        ),
    )
