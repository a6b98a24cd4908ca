"""Advancing a merge queue: doing what is due in one branch's queue (land the head if its run
passed, eject it if its run failed, rebuild and test the speculative merges that are missing
or stale), under the repository's ref lock, and what starts it: a CI run that ended, a push to
the branch from outside the queue, the worker's periodic pass over every queue with entries.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.ci.config import CONFIG_PATH
from forge.db import Database
from forge.gate.auto_submit import schedule_consider
from forge.gate.merge_queue import (
    ADVANCE_JOB,
    active_entries,
    after_commit_once,
    leave,
    schedule_advance,
)
from forge.gate.speculative_merges import (
    Step,
    build,
    eject,
    land,
    landing_span,
    prune_hidden_refs,
    span_is_current,
)
from forge.git import refs as git_refs
from forge.git.checkout import read_file_at
from forge.models import CiRun, Repository
from forge.models.ci import FINISHED
from forge.models.quality import MERGE_QUEUE_ACTIVE, MergeQueueEntry
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings
from forge.repos.repositories import disk_path

# A merge-queue run that *errored* (its worker was lost, the machine could not run it) is
# not the change's fault: it is run again this many times before the change is ejected.
MAX_ATTEMPTS = 3


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
                leave(session, entry, "removed", why, None, config.base_url)
                steps.append(Step(entry.change.number, "removed"))
            if gone:
                continue
            if not entries:
                break
            tip = git_refs.current_value(git, ref)
            if tip == git_refs.ZERO:
                for entry in entries:
                    eject(session, entry, f"the branch {branch} no longer exists", None, config)
                    steps.append(Step(entry.change.number, "ejected"))
                break
            span = landing_span(entries)  # the head, or its topic's batch landing with it
            if span_is_current(span, tip):
                verdicts = [(entry, *_verdict(session, repos_dir, entry)) for entry in span]
                failed = [(entry, run) for entry, v, run in verdicts if v == "failed"]
                verdict = "failed" if failed else "pending"
                if all(v == "passed" for _entry, v, _run in verdicts):
                    verdict = "passed"
                if verdict == "passed":
                    if land(session, repos_dir, git, span, tip, config, steps):
                        # The branch moved: this transaction must commit with it, alone, so
                        # nothing later in the round can roll back what git already did.
                        # Another advance takes up the rest once it has.
                        after_commit_once(
                            session, ADVANCE_JOB, repository.id, branch, base_url=config.base_url
                        )
                        break
                    continue
                elif verdict == "failed":
                    entry, run = failed[0]  # its topic's batch leaves with it
                    eject(session, entry, _failure(run), run, config)
                    steps.append(Step(entry.change.number, "ejected"))
                    continue
            if not build(session, repos_dir, git, entries, tip, config, steps):
                break
        prune_hidden_refs(session, git)
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
    from forge.ci.results import run_url

    failed = [j for j in run.jobs if j.state != "passed"]
    if not failed:
        what = run.reason or run.state
    else:
        what = ", ".join(f"{j.name} {j.state.replace('_', ' ')}" for j in failed)
    return f"CI {run.state.replace('_', ' ')} on the speculative merge ({what}): {run_url(run)}"


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
