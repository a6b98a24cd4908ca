"""CI runs: asking for a run of a repository's `.forge/ci.yml` jobs, and what people do with
runs (list, approve, cancel, re-run). Putting jobs on the queue and finding lost ones is
`forge.ci.dispatch`; running a job on a worker, `forge.ci.execution`; the statuses and logs
jobs leave, `forge.ci.results`.

A run is asked for by a push to a branch, a new patch set of a change, or a re-run; it holds
one `CiJob` per job of the file. The database is the truth: a job is `waiting` (for approval),
`queued`, `running`, then `passed`, `failed`, `errored`, `cancelled` or `timed_out`. The queue
only carries "run job N, attempt A" to a worker; `dispatch` puts every runnable queued job on
it that is not there yet, and `reconcile` also ends jobs whose worker is gone, so a lost Redis
or a killed worker never leaves a run stuck.

Each job reports a commit status `ci/<job>` that links to its log page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from forge import events, outbox
from forge.accounts import trust_edges
from forge.accounts.permissions import can, require
from forge.ci.config import CONFIG_PATH, CiConfigError, parse
from forge.ci.results import finish, job_status, record_status, update_run_state
from forge.config import CiLimits
from forge.db import after_commit, after_rollback, utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.git.checkout import read_file_at
from forge.models import Change, CiJob, CiRun, Repository, User
from forge.models.ci import FINISHED, PENDING


def on_change_head(session: Session, event: events.ChangeOpened | events.PatchSetUploaded) -> None:
    """Subscriber: a change's new head gets a run, held for a newcomer's change."""
    change = event.change
    request_run(
        session, event.repo_path, change.repository, change.head_sha, event_name="change",
        ref=change.head_branch, actor=change.author, change=change,
    )  # fmt: skip


def request_run(
    session: Session,
    repo_path: Path,
    repo: Repository,
    sha: str,
    *,
    event_name: str,
    ref: str | None = None,
    actor: User | None = None,
    change: Change | None = None,
) -> CiRun | None:
    """Ask for a run of the commit's `.forge/ci.yml`; None when the commit has none.

    A commit already run (or running) is not run again; a change's new patch set cancels
    what is still pending of the runs of its earlier patch sets. The session's
    `info["forge.base_url"]` (the forge's external URL) makes the statuses link to the run.
    """
    base_url = session.info.get("forge.base_url", "")
    if change is not None:
        _cancel_older_runs(session, change, sha)
    # The file first: most pushes to most repositories have none, and then there is no run
    # to look for either (the same commit always has the same file).
    text = read_file_at(repo_path, sha, CONFIG_PATH)
    if text is None:
        return None
    existing = session.scalar(
        select(CiRun)
        .where(CiRun.repository_id == repo.id, CiRun.sha == sha, CiRun.state != "cancelled")
        .order_by(CiRun.id.desc())
    )
    if existing is not None:
        if change is not None and existing.change_id is None:
            existing.change_id = change.id
        return existing
    run = CiRun(
        repository_id=repo.id,
        sha=sha,
        ref=ref,
        event=event_name,
        change_id=change.id if change is not None else None,
        actor_id=actor.id if actor is not None else None,
        base_url=base_url.rstrip("/"),
        state="queued",
    )
    run.repository = repo
    session.add(run)
    try:
        specs = parse(text, CiLimits())
    except CiConfigError as exc:
        run.state, run.reason = "errored", str(exc)
        session.flush()
        record_status(session, run, "ci", "error", str(exc)[:1000])
        return run
    held = change is not None and _is_newcomer(session, repo, change.author)
    for spec in specs:
        run.jobs.append(
            CiJob(
                name=spec.name,
                script=spec.run,
                definition=json.dumps(spec.definition()),
                state="waiting" if held else "queued",
                reason="waiting for approval by a maintainer" if held else "",
            )
        )
    run.state = "waiting" if held else "queued"
    session.flush()
    for job in run.jobs:
        job_status(session, job)
    _dispatch_after_commit(session)
    return run


def _is_newcomer(session: Session, repo: Repository, author: User | None) -> bool:
    """Someone without write access none of whose changes was ever merged *here* by someone
    trusted here (what they merged elsewhere, or among accounts of their own, does not count)."""
    if author is None:
        return True
    if can(session, author, "write", repo):
        return False
    return not trust_edges.merged_here_by_trusted(session, repo, author)


def _cancel_older_runs(session: Session, change: Change, sha: str) -> None:
    older = session.scalars(
        select(CiRun).where(CiRun.change_id == change.id, CiRun.sha != sha)
    ).all()
    for run in older:
        for job in run.jobs:
            if job.state in PENDING:
                finish(session, job, "cancelled", "a newer patch set superseded it")
        update_run_state(run)


def _dispatch_after_commit(session: Session) -> None:
    """Once the rows are committed, a worker puts the runnable jobs on the queue: the request
    is in the outbox (forge.outbox), written in this transaction, so a lost hand-over is
    relayed; and the reconciler finds the jobs on its next pass whatever happens."""
    if session.info.get("forge.ci_dispatch_listening"):
        return
    session.info["forge.ci_dispatch_listening"] = True
    outbox.put(session, "ci", "forge.jobs.dispatch_ci")
    after_commit(session, lambda: session.info.pop("forge.ci_dispatch_listening", None))
    after_rollback(session, lambda: session.info.pop("forge.ci_dispatch_listening", None))


def get_run(session: Session, repo: Repository, run_id: int) -> CiRun:
    run = session.get(CiRun, run_id)
    if run is None or run.repository_id != repo.id:
        raise NotFound(f"no run {run_id} in {repo.full_name}")
    return run


def get_job(session: Session, repo: Repository, job_id: int) -> CiJob:
    job = session.get(CiJob, job_id)
    if job is None or job.run.repository_id != repo.id:
        raise NotFound(f"no job {job_id} in {repo.full_name}")
    return job


@dataclass
class RunFilter:
    """Which of a repository's runs to list; None means any."""

    ref: str | None = None
    event: str | None = None
    states: tuple[str, ...] | None = None
    sha: str | None = None
    change_id: int | None = None
    actor_id: int | None = None

    def apply(self, query):
        if self.ref is not None:
            query = query.where(CiRun.ref == self.ref)
        if self.event is not None:
            query = query.where(CiRun.event == self.event)
        if self.states is not None:
            query = query.where(CiRun.state.in_(self.states))
        if self.sha is not None:
            query = query.where(CiRun.sha == self.sha)
        if self.change_id is not None:
            query = query.where(CiRun.change_id == self.change_id)
        if self.actor_id is not None:
            query = query.where(CiRun.actor_id == self.actor_id)
        return query


def list_runs(
    session: Session,
    repo: Repository,
    limit: int = 50,
    offset: int = 0,
    where: RunFilter | None = None,
) -> list[CiRun]:
    """The repository's runs, newest first."""
    query = select(CiRun).where(CiRun.repository_id == repo.id)
    query = (where or RunFilter()).apply(query).order_by(CiRun.id.desc())
    # A list shows each run's jobs and actor: loaded for the page at once, not per row.
    query = query.options(selectinload(CiRun.jobs), joinedload(CiRun.actor))
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_runs(session: Session, repo: Repository, where: RunFilter | None = None) -> int:
    query = select(func.count(CiRun.id)).where(CiRun.repository_id == repo.id)
    return session.scalar((where or RunFilter()).apply(query))


def changes_of(session: Session, runs: list[CiRun]) -> dict[int, Change]:
    """The changes the runs were asked for, by id (a run keeps only the change's id)."""
    ids = {run.change_id for run in runs if run.change_id is not None}
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Change).where(Change.id.in_(ids)))}


def allowed_actions(session: Session, user: User | None, run: CiRun) -> frozenset[str]:
    """What the user may do to the run now: some of approve, cancel, rerun."""
    if user is None:
        return frozenset()
    states = {job.state for job in run.jobs}
    if not can(session, user, "write", run.repository):
        vouches = "waiting" in states and _may_approve(session, user, run)
        return frozenset({"approve"}) if vouches else frozenset()
    actions = set()
    if "waiting" in states:
        actions.add("approve")
    if run.jobs and not states <= set(FINISHED):
        actions.add("cancel")
    if run.jobs and states <= set(FINISHED):
        actions.add("rerun")
    return frozenset(actions)


def _may_approve(session: Session, user: User, run: CiRun) -> bool:
    """Write access, or the reputation privilege; a reputed newcomer still cannot vouch for
    their own change."""
    from forge.accounts import privileges

    if can(session, user, "write", run.repository):
        return True
    if not privileges.may_approve_ci(session, user, run.repository):
        return False
    change = session.get(Change, run.change_id) if run.change_id is not None else None
    return change is None or change.author_id != user.id


def started_at(run: CiRun):
    times = [job.started_at for job in run.jobs if job.started_at is not None]
    return min(times) if times else None


def finished_at(run: CiRun):
    if run.state not in FINISHED:
        return None
    times = [job.finished_at for job in run.jobs if job.finished_at is not None]
    return max(times) if times else run.updated_at


def seconds_between(start, end) -> int | None:
    """How long something took, or has taken so far (no end yet); None if it never started."""
    if start is None:
        return None
    return max(0, int(((end or utcnow()) - start).total_seconds()))


def approve(session: Session, actor: User, run: CiRun) -> CiRun:
    """Someone with write access, or enough reputation in the repository (the privilege of
    forge.accounts.privileges), lets a newcomer's jobs run; never the newcomer themself."""
    from forge.accounts import privileges

    privileges.require_ci_approver(session, actor, run.repository)
    if not _may_approve(session, actor, run):
        raise Forbidden("a newcomer's run is approved by someone else: you wrote the change")
    waiting = [job for job in run.jobs if job.state == "waiting"]
    if not waiting:
        raise Invalid("this run is not waiting for approval")
    for job in waiting:
        job.state, job.reason = "queued", f"approved by {actor.name}"
        job_status(session, job)
    update_run_state(run)
    _dispatch_after_commit(session)
    return run


def cancel(session: Session, actor: User, run: CiRun) -> CiRun:
    """Cancel what has not finished; a running job is killed by its worker within a second."""
    require(session, actor, "write", run.repository)
    live = [job for job in run.jobs if job.state not in FINISHED]
    if not live:
        raise Invalid("this run has finished already")
    for job in live:
        finish(session, job, "cancelled", f"cancelled by {actor.name}")
    update_run_state(run)
    return run


def rerun(session: Session, actor: User, run: CiRun) -> CiRun:
    """Run every job of a finished run again, as a new attempt with fresh logs."""
    require(session, actor, "write", run.repository)
    if not run.jobs:
        raise Invalid(run.reason or "this run has no jobs to run again")
    if any(job.state not in FINISHED for job in run.jobs):
        raise Invalid("this run has not finished yet; cancel it first")
    return retry(session, run, f"re-run by {actor.name}")


def retry(session: Session, run: CiRun, reason: str) -> CiRun:
    """Run a finished run's jobs again as a new attempt; forge's own retries (the merge
    queue's, after a lost worker) come here without a person's permission check."""
    run.attempt += 1
    for job in run.jobs:
        job.attempt = run.attempt
        job.state, job.reason, job.exit_code = "queued", reason, None
        job.started_at = job.finished_at = job.heartbeat_at = None
        job.runner = ""
        job_status(session, job)
    update_run_state(run)
    _dispatch_after_commit(session)
    return run


def abandon(session: Session, run: CiRun, reason: str) -> None:
    """Cancel what has not finished of a run nobody waits for any more (the merge queue
    rebuilt or dropped the commit it tests)."""
    live = [job for job in run.jobs if job.state not in FINISHED]
    for job in live:
        finish(session, job, "cancelled", reason)
    if live:
        update_run_state(run)
