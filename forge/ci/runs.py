"""CI: running a repository's `.forge/ci.yml` jobs on the workers, and what came of them.

A run is asked for by a push to a branch, a new patch set of a change, or a re-run; it holds
one `CiJob` per job of the file. The database is the truth: a job is `waiting` (for approval),
`queued`, `running`, then `passed`, `failed`, `errored`, `cancelled` or `timed_out`. The queue
only carries "run job N, attempt A" to a worker; `dispatch` puts every runnable queued job on
it that is not there yet, and `reconcile` also ends jobs whose worker is gone, so a lost Redis
or a killed worker never leaves a run stuck.

Each job reports a commit status `ci/<job>` that links to its log page.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, object_session, selectinload

from forge import events, outbox
from forge.accounts import trust
from forge.accounts.permissions import can, require
from forge.ci import sandbox as ci_sandbox
from forge.ci.config import CONFIG_PATH, CiConfigError, parse
from forge.config import CiLimits, Settings
from forge.db import Database, after_commit, after_rollback, utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.git.checkout import CheckoutError, checkout, read_file_at
from forge.models import Change, CiJob, CiRun, CommitStatus, Repository, User
from forge.models.ci import FINISHED, PENDING
from forge.repos.repositories import disk_path

STALE_AFTER = timedelta(seconds=60)  # a running job without a heartbeat this long is lost
HEARTBEAT_SECONDS = 2
STATUS_STATES = {
    "waiting": "pending",
    "queued": "pending",
    "running": "pending",
    "passed": "success",
    "failed": "failure",
    "timed_out": "failure",
    "errored": "error",
    "cancelled": "error",
}
# Which finished state a run shows when its jobs ended differently: the worst wins.
SEVERITY = ("passed", "cancelled", "failed", "timed_out", "errored")
NO_SANDBOX = (
    "bubblewrap (bwrap) is not installed, so forge refuses to run CI jobs; install it, "
    "or set FORGE_CI_UNSANDBOXED=1 to run jobs without a sandbox"
)


@dataclass
class QueueOps:
    """The queue as CI sees it: put a job's attempt on it, ask whether it is still there."""

    submit: Callable[[CiJob], object]
    present: Callable[[CiJob], bool]


# --- asking for runs ---------------------------------------------------------------------------


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
        _status(session, run, "ci", "error", str(exc)[:1000])
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
        _job_status(session, job)
    _dispatch_after_commit(session)
    return run


def _is_newcomer(session: Session, repo: Repository, author: User | None) -> bool:
    """Someone without write access none of whose changes was ever merged *here* by someone
    trusted here (what they merged elsewhere, or among accounts of their own, does not count)."""
    if author is None:
        return True
    if can(session, author, "write", repo):
        return False
    return not trust.merged_here_by_trusted(session, repo, author)


def _cancel_older_runs(session: Session, change: Change, sha: str) -> None:
    older = session.scalars(
        select(CiRun).where(CiRun.change_id == change.id, CiRun.sha != sha)
    ).all()
    for run in older:
        for job in run.jobs:
            if job.state in PENDING:
                _finish(session, job, "cancelled", "a newer patch set superseded it")
        _update_run_state(run)


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


# --- acting on runs ----------------------------------------------------------------------------


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
        _job_status(session, job)
    _update_run_state(run)
    _dispatch_after_commit(session)
    return run


def cancel(session: Session, actor: User, run: CiRun) -> CiRun:
    """Cancel what has not finished; a running job is killed by its worker within a second."""
    require(session, actor, "write", run.repository)
    live = [job for job in run.jobs if job.state not in FINISHED]
    if not live:
        raise Invalid("this run has finished already")
    for job in live:
        _finish(session, job, "cancelled", f"cancelled by {actor.name}")
    _update_run_state(run)
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
        _job_status(session, job)
    _update_run_state(run)
    _dispatch_after_commit(session)
    return run


def abandon(session: Session, run: CiRun, reason: str) -> None:
    """Cancel what has not finished of a run nobody waits for any more (the merge queue
    rebuilt or dropped the commit it tests)."""
    live = [job for job in run.jobs if job.state not in FINISHED]
    for job in live:
        _finish(session, job, "cancelled", reason)
    if live:
        _update_run_state(run)


# --- the queue side ----------------------------------------------------------------------------


def dispatch(session: Session, ops: QueueOps, finished: CiJob | None = None) -> int:
    """Put every queued job whose needs have passed on the queue (unless it is there already);
    end, as cancelled, the jobs whose needs did not pass. Returns how many were submitted.

    With `finished` (a job that just ended), only the jobs that need it, and theirs in turn
    when skipped, are looked at: a worker ending a job of a 200-job run then asks Redis about
    a few jobs, not about every queued job of the forge (the reconciler catches the rest).
    """
    if finished is None:
        query = select(CiJob).where(CiJob.state == "queued").order_by(CiJob.id)
        queued = list(session.scalars(query))
    else:
        queued = _needing(finished)
    submitted = 0
    while queued:
        job = queued.pop(0)
        if job.state != "queued":
            continue
        needs = json.loads(job.definition).get("needs", [])
        states = {other.name: other.state for other in job.run.jobs}
        failed = [n for n in needs if states.get(n) in FINISHED and states[n] != "passed"]
        if failed:
            _finish(session, job, "cancelled", f"skipped: the job {failed[0]} did not pass")
            _update_run_state(job.run)
            if finished is not None:
                queued.extend(_needing(job))
            continue
        if any(states.get(n) != "passed" for n in needs):
            continue
        if not ops.present(job):
            ops.submit(job)
            submitted += 1
    return submitted


def _needing(job: CiJob) -> list[CiJob]:
    """The queued jobs of the job's run that list it in their `needs`."""
    return [
        other
        for other in job.run.jobs
        if other.state == "queued" and job.name in json.loads(other.definition).get("needs", [])
    ]


def reconcile(session: Session, ops: QueueOps, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """End the running jobs whose worker is gone, then dispatch; returns the jobs ended.

    A worker is gone when its process no longer exists on this host, or when the job has
    sent no heartbeat for `stale_after` (a worker on another host, or a hung one).
    """
    ended = []
    now = utcnow()
    host = socket.gethostname()
    for job in session.scalars(select(CiJob).where(CiJob.state == "running")).all():
        lost = None
        runner_host, _, pids = job.runner.partition(":")
        if runner_host == host and pids:
            dead = [pid for pid in pids.split(":") if pid.isdigit() and not _alive(int(pid))]
            if dead:
                lost = f"the worker running it stopped (process {dead[0]} is gone)"
        if lost is None and (job.heartbeat_at is None or now - job.heartbeat_at > stale_after):
            lost = f"the worker running it sent no heartbeat for {int(stale_after.seconds)} s"
        if lost is not None:
            _finish(session, job, "errored", lost)
            _update_run_state(job.run)
            ended.append(job.id)
    session.flush()
    dispatch(session, ops)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone too.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --- running a job (on a worker) ---------------------------------------------------------------


def log_path(logs_dir: Path, job: CiJob) -> Path:
    return (
        logs_dir
        / "ci"
        / str(job.run.repository_id)
        / str(job.run_id)
        / f"{job.id}.{job.attempt}.log"
    )


def read_log(logs_dir: Path, job: CiJob, offset: int = 0, limit: int = 256 * 1024) -> bytes:
    try:
        with open(log_path(logs_dir, job), "rb") as log:
            # Clamped: an offset past what a file can hold makes seek() raise.
            log.seek(min(max(0, offset), os.fstat(log.fileno()).st_size))
            return log.read(limit)
    except FileNotFoundError:
        return b""


def read_log_text(logs_dir: Path, job: CiJob, offset: int = 0, limit: int = 256 * 1024):
    """Up to `limit` bytes of the log from `offset` as text, and the offset to read on from.

    A chunk that ends inside a UTF-8 character stops before it, so a reader polling with the
    returned offset never sees a character cut in two.
    """
    data = read_log(logs_dir, job, offset, limit)
    cut = len(data)
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead byte
            continue
        if byte >= 0xC0 and back < (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4):
            cut = len(data) - back  # the lead byte's character is not complete yet
        break
    return data[:cut].decode("utf-8", "replace"), max(0, offset) + cut


def execute(database: Database, settings: Settings, job_id: int, attempt: int, ops: QueueOps):
    """Run one attempt of a job, start to end; every step is written to the database first."""
    with database.session() as session:
        job = session.get(CiJob, job_id)
        if job is None or job.attempt != attempt or job.state != "queued":
            return None  # cancelled, re-run or done meanwhile: nothing to do
        repo = job.run.repository
        repo_path = disk_path(settings.repos_dir, repo)
        definition = json.loads(job.definition)
        bwrap = ci_sandbox.find_bwrap(settings.ci.bwrap)
        job.state, job.started_at, job.heartbeat_at = "running", utcnow(), utcnow()
        job.runner = f"{socket.gethostname()}:{os.getppid()}:{os.getpid()}"
        job.sandboxed, job.reason = bwrap is not None, ""
        job.run.state = "running"
        _job_status(session, job)
        path = log_path(settings.logs_dir, job)
        sha, name, script, run_id = job.run.sha, job.name, job.script, job.run_id
        ref = job.run.ref or ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    limits = settings.ci
    refusal = None
    if bwrap is None and not limits.unsandboxed:
        refusal = NO_SANDBOX
    elif definition.get("network") and not limits.network:
        refusal = "the job asks for the network (network: true), which this forge does not allow"
    scratch = settings.workspaces_dir / f"ci-{job_id}-{attempt}"
    outcome = None
    try:
        if refusal is None:
            if bwrap is None and os.geteuid() == 0:
                scratch = _unsandboxed_scratch(job_id, attempt)
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(mode=0o711, parents=True)
            workspace = scratch / "workspace"
            checkout(repo_path, sha, workspace)
            with _job_user(settings) as uid:
                sandbox = ci_sandbox.Sandbox(
                    workspace=workspace,
                    hidden=[settings.home, settings.repos_dir, settings.logs_dir],
                    timeout=min(definition.get("timeout", 600), limits.max_timeout),
                    memory_mb=_capped(definition, "memory_mb", limits.memory_mb),
                    processes=_capped(definition, "processes", limits.processes),
                    file_mb=_capped(definition, "file_mb", limits.file_mb),
                    disk_mb=_capped(definition, "disk_mb", limits.disk_mb),
                    log_limit=limits.log_limit,
                    network=bool(definition.get("network")),
                    bwrap=bwrap,
                    mounts=limits.mounts,
                    uid=uid,
                )
                env = {
                    **definition.get("env", {}),
                    "FORGE_CI": "true",
                    "CI_COMMIT_SHA": sha,
                    "CI_REF": ref,
                    "CI_JOB": name,
                    "CI_RUN_ID": str(run_id),
                }
                outcome = ci_sandbox.run_script(
                    script, env, sandbox, path, _stop_check(database, job_id, attempt)
                )
    except (CheckoutError, OSError, ci_sandbox.NoJobUser) as exc:
        refusal = f"forge could not prepare the job: {exc}"
    finally:
        ci_sandbox.remove_tree(scratch)
    if refusal is not None:
        with open(path, "ab") as log:
            log.write(f"[forge: {refusal}]\n".encode())
    with database.session() as session:
        job = session.get(CiJob, job_id)
        if job is None or job.attempt != attempt or job.state != "running":
            return None  # cancelled meanwhile: it keeps that ending
        if refusal is not None:
            _finish(session, job, "errored", refusal)
        else:
            job.exit_code = outcome.exit_code
            _finish(session, job, outcome.state, outcome.reason)
        _update_run_state(job.run)
        session.flush()
        dispatch(session, ops, finished=job)
        return job.state


def _unsandboxed_scratch(job_id: int, attempt: int) -> Path:
    """The directory of a job run without a sandbox as root.

    Such a job runs under its own user id and sees the host's paths, where $FORGE_HOME is
    closed to it (in the sandbox its directories are bound at paths of their own instead):
    so they go in a directory of the system's temporary one that the job may pass through
    but not list (mode 711).
    """
    return Path(tempfile.mkdtemp(prefix=f"forge-ci-{job_id}-{attempt}-"))


def _job_user(settings: Settings):
    """As root, a user id of the job's own for as long as it runs; otherwise forge's own."""
    if os.geteuid() != 0:
        return contextlib.nullcontext(None)
    limits = settings.ci
    return ci_sandbox.JobUsers(limits.uid_base, limits.uid_count).take()


def _capped(definition: dict, name: str, cap: int) -> int:
    """The job's own limit `name` from its `limits:`, never past the admin's cap."""
    return min(definition["limits"].get(name, cap), cap)


def _stop_check(database: Database, job_id: int, attempt: int) -> Callable[[], bool]:
    """Called each second while the job runs: beat the heart, and say whether to stop."""

    def should_stop() -> bool:
        with database.session() as session:
            job = session.get(CiJob, job_id)
            if job is None or job.attempt != attempt or job.state != "running":
                return True
            job.heartbeat_at = utcnow()
            return False

    return should_stop


# --- results -----------------------------------------------------------------------------------


def _finish(session: Session, job: CiJob, state: str, reason: str) -> None:
    job.state, job.reason, job.finished_at = state, reason, utcnow()
    _job_status(session, job)


def _update_run_state(run: CiRun) -> None:
    states = [job.state for job in run.jobs]
    if not states:
        return
    if "running" in states:
        run.state = "running"
    elif "queued" in states:
        run.state = "running" if any(s in FINISHED for s in states) else "queued"
    elif "waiting" in states:
        run.state = "waiting"
    else:
        run.state = max(states, key=SEVERITY.index)
    run.updated_at = utcnow()
    if run.state in FINISHED:
        # A failed head settles the votes on its patch set (reputation); the merge queue waits
        # for its runs, and a change's passing run may make it ready.
        events.publish(object_session(run), events.CiRunFinished(run=run))


def run_url(run: CiRun) -> str:
    return f"{run.base_url}/{run.repository.full_name}/actions/runs/{run.id}"


def _job_status(session: Session, job: CiJob) -> None:
    description = {
        "waiting": "Waiting for approval",
        "queued": "Queued",
        "running": "Running",
        "passed": "Passed",
    }.get(job.state, job.reason or job.state.replace("_", " ").capitalize())
    _status(session, job.run, f"ci/{job.name}", STATUS_STATES[job.state], description)


def _status(session: Session, run: CiRun, context: str, state: str, description: str) -> None:
    # Set by forge itself, so not through statuses.create_status (which checks a user's role).
    status = CommitStatus(
        repository_id=run.repository_id,
        sha=run.sha,
        context=context,
        state=state,
        description=description[:1000],
        target_url=run_url(run) if run.base_url.startswith(("http://", "https://")) else "",
        creator_id=None,
    )
    session.add(status)
    session.flush()
    # Webhooks say `status`, as for any status; the sender is whoever the run is for.
    events.publish(
        session,
        events.StatusChanged(
            status=status, sender=run.actor, repo=run.repository, base_url=run.base_url or None
        ),
    )
