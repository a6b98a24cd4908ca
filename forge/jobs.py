"""Jobs that run on the workers. Each takes plain values so it can be serialised by rq."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def ping(payload: str) -> dict:
    """Answer with the payload and the worker's process id: proves a worker is taking jobs."""
    return {"payload": payload, "pid": os.getpid()}


def maintain_repository(repo_path: str) -> dict:
    """After pushes: merge a repository's packs as the geometric rule says is due, write its
    commit-graph, and fill the page cache with what its home page takes from history."""
    from forge.config import Settings
    from forge.git import history, page_cache
    from forge.git.maintenance import maintain

    result = maintain(Path(repo_path))
    # The home page's walk of history, done here rather than by its first visitor.
    if page_cache.current() is None:  # a worker process: the site's settings are its env
        settings = Settings.from_env()
        page_cache.configure(settings.home / "cache", settings.page_cache_mb * 1024 * 1024)
    history.warm_home(Path(repo_path))
    if result is None:
        return {"skipped": "another maintenance run holds the lock"}
    return {"packs_merged": result.packs_merged, "loose_merged": result.loose_merged}


def collect_garbage() -> list[str]:
    """Remove what pushes whose server process died left behind (quarantines an hour old),
    in every repository; settings from the environment, as `forge worker` sets it."""
    from forge.config import Settings
    from forge.git.maintenance import remove_stale_quarantines

    removed = remove_stale_quarantines(Settings.from_env().repos_dir)
    for path in removed:
        log.info("removed a push's leftover quarantine %s", path)
    return [str(path) for path in removed]


def backfill_patch_set_refs() -> list[str]:
    """Write the refs/changes/NN/N/P that patch sets uploaded before forge kept them lack
    (`forge gc` does it too); settings from the environment, as `forge worker` sets it."""
    from forge.config import Settings
    from forge.db import Database
    from forge.review.patch_set_refs import backfill_patch_set_refs as backfill

    settings = Settings.from_env()
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            written = backfill(session, settings.repos_dir)
    finally:
        database.dispose()
    for done in written:
        log.info("wrote the missing patch set ref %s %s", done.repository, done.ref)
    return [f"{done.repository} {done.ref}" for done in written]


def _ci_context():
    """Settings, database and queue for a CI job, from the worker's environment."""
    import json

    from forge.ci.dispatch import QueueOps
    from forge.config import Settings
    from forge.db import Database
    from forge.notify import webhook_recording
    from forge.queue import ci as ci_queue
    from forge.queue import connect

    settings = Settings.from_env()
    database = Database(settings.database_url)
    connection = connect(settings.redis_url)
    # A run that ends may move the merge queue (forge.gate.merge_queue): its sessions
    # can put that job on the queue once they commit; and its statuses' webhook deliveries
    # go out once they commit too, not when the reconciler next finds them.
    database.sessionmaker.configure(info={"forge.enqueue": _enqueuer(connection)})
    webhook_recording.attach(database, settings, _enqueuer(connection))

    def submit(job) -> None:
        timeout = json.loads(job.definition).get("timeout", 600)
        ci_queue.submit(connection, job.id, job.attempt, min(timeout, settings.ci.max_timeout))

    ops = QueueOps(
        submit=submit, present=lambda job: ci_queue.present(connection, job.id, job.attempt)
    )
    return settings, database, ops


def run_ci_job(job_id: int, attempt: int) -> str | None:
    """Run one attempt of a CI job in the sandbox; its ending is written to the database."""
    from forge.ci.execution import execute

    settings, database, ops = _ci_context()
    try:
        return execute(database, settings, job_id, attempt, ops)
    finally:
        database.dispose()


def dispatch_ci() -> int:
    """Queue the CI jobs that became runnable (after a push, an approval, a re-run)."""
    from forge.ci.dispatch import dispatch

    _settings, database, ops = _ci_context()
    try:
        with database.session() as session:
            return dispatch(session, ops)
    finally:
        database.dispose()


def reconcile_ci() -> list[int]:
    """End CI jobs whose worker is gone and queue the queued ones Redis lost."""
    from forge.ci.dispatch import reconcile

    _settings, database, ops = _ci_context()
    try:
        with database.session() as session:
            return reconcile(session, ops)
    finally:
        database.dispose()


def relay_outbox() -> int:
    """Queue the outbox's jobs whose hand-over after their commit failed (forge.outbox)."""
    from forge import outbox
    from forge.config import Settings
    from forge.db import Database
    from forge.queue import connect

    settings = Settings.from_env()
    database = Database(settings.database_url)
    try:
        return outbox.relay(database, _enqueuer(connect(settings.redis_url)))
    finally:
        database.dispose()


def send_mail(message_id: int, try_number: int = 1) -> dict:
    """Send one recorded mail (forge.accounts.mail) through FORGE_SMTP_URL; when the server
    cannot be reached or refuses, try again a minute, then five, later (the row records each
    failure and stays on the admin page until sent)."""
    from rq import get_current_job

    from forge.accounts import mail
    from forge.config import Settings
    from forge.queue import enqueue_in

    settings = Settings.from_env()
    database = _process_database(settings.database_url)
    with database.session() as session:
        try:
            sent = mail.send(session, settings.smtp, message_id)
        except Exception as exc:
            delays = (60, 300, 900, 1800)
            if try_number > len(delays):
                log.warning("mail %d not sent after %d tries: %s", message_id, try_number, exc)
                return {"mail": message_id, "sent": False}
            job = get_current_job()
            if job is not None:
                enqueue_in(job.connection, "default", delays[try_number - 1], send_mail,
                           message_id, try_number + 1)  # fmt: skip
            return {"mail": message_id, "retry_in": delays[try_number - 1]}
    return {"mail": message_id, "sent": sent}


def deliver_webhook(
    database_url: str,
    delivery_id: int,
    allowed_hosts: list[str],
    retry_delays: list[int],
    try_number: int = 1,
) -> dict:
    """Send one webhook delivery once; on a network error, a timeout or a 5xx answer, put the
    next try on the queue after the next delay of `retry_delays` (the database row, not this
    job, is the record of what happened)."""
    from rq import get_current_job

    from forge.notify import webhook_recording, webhook_sending
    from forge.queue import enqueue_in

    database = _process_database(database_url)
    with database.session() as session:
        outcome = webhook_sending.attempt(session, delivery_id, tuple(allowed_hosts))
        if outcome is None or outcome.delivered or not outcome.retryable:
            return {"delivery": delivery_id, "status": outcome and outcome.status_code}
        if try_number >= len(retry_delays):
            webhook_sending.give_up(session, delivery_id)
            return {"delivery": delivery_id, "status": "failed"}
    job = get_current_job()
    enqueue_in(
        job.connection,
        "hooks",
        retry_delays[try_number],
        deliver_webhook,
        database_url,
        delivery_id,
        allowed_hosts,
        retry_delays,
        try_number + 1,
        job_id=webhook_recording.job_id(delivery_id, try_number + 1),
    )
    return {"delivery": delivery_id, "retry_in": retry_delays[try_number]}


_DATABASES: dict[tuple[int, str], object] = {}


def _process_database(database_url: str):
    """One Database per process and URL, kept: a worker that runs jobs in its own process
    (the hooks workers) keeps its connections and SQLAlchemy's compiled statements, which
    otherwise cost more than sending the delivery. Keyed by pid, so a fork makes its own."""
    from forge.db import Database

    key = (os.getpid(), database_url)
    if key not in _DATABASES:
        _DATABASES[key] = Database(database_url)
    return _DATABASES[key]


def dispose_databases() -> None:
    """Close what `_process_database` kept (a worker stopping)."""
    while _DATABASES:
        _DATABASES.popitem()[1].dispose()


def reconcile_webhooks() -> list[int]:
    """Queue again the webhook deliveries that are due but that Redis lost (a restart) or
    whose worker died mid-attempt; the database says which are pending."""
    from forge.config import Settings
    from forge.db import Database
    from forge.notify.deliveries import reconcile
    from forge.queue import connect

    settings = Settings.from_env()
    database = Database(settings.database_url)
    try:
        return reconcile(database, settings, connect(settings.redis_url))
    finally:
        database.dispose()


# --- the merge queue ---------------------------------------------------------------------------


def _enqueuer(connection):
    from forge.queue import enqueue

    # Options (a job id) pass through: webhook deliveries are queued under their own ids.
    return lambda queue_name, func, *args, **options: enqueue(
        connection, queue_name, func, *args, **options
    )


def _merge_queue_context(base_url: str = ""):
    """Settings, database (its sessions queue webhook deliveries and follow-up jobs) and the
    ref-change settings the merge queue moves branches with."""
    from forge.config import Settings
    from forge.db import Database
    from forge.notify import webhook_recording
    from forge.queue import connect
    from forge.repos.refs import RefChangeSettings

    settings = Settings.from_env()
    database = Database(settings.database_url)
    connection = connect(settings.redis_url)
    webhook_recording.attach(database, settings, _enqueuer(connection))
    config = RefChangeSettings.build(settings, connection, base_url)
    return settings, database, config


def advance_merge_queue(repository_id: int, branch: str, base_url: str = "") -> list[str]:
    """Do what is due in one branch's merge queue (land, eject, build and test)."""
    from forge.gate import merge_queue_advance

    settings, database, config = _merge_queue_context(base_url)
    try:
        steps = merge_queue_advance.advance_committed(
            database, settings.repos_dir, config, repository_id, branch
        )
        return [f"#{s.change_number} {s.state}" for s in steps]
    finally:
        database.dispose()


def consider_for_merge_queue(repository_id: int, sha: str, base_url: str = "") -> None:
    """A change's head got a CI verdict: it may now be submittable (auto-submit, auto-merge)."""
    from forge.gate import auto_submit
    from forge.models import Repository

    settings, database, config = _merge_queue_context(base_url)
    try:
        with database.session() as session:
            session.info["forge.enqueue"] = config.enqueue
            session.info["forge.base_url"] = config.base_url
            repository = session.get(Repository, repository_id)
            if repository is not None:
                auto_submit.consider_sha(session, settings.repos_dir, repository, sha, None)
    finally:
        database.dispose()


def reconcile_merge_queues() -> list[str]:
    """Advance every merge queue that has entries: after a restart, a lost job or a killed
    worker, the database says what is due."""
    from forge.gate import merge_queue_advance

    settings, database, config = _merge_queue_context()
    done = []
    try:
        with database.session() as session:
            queues = merge_queue_advance.branches_with_entries(session)
        default_url = config.base_url
        for repository_id, branch in queues:
            with database.session() as session:
                config.base_url = default_url or merge_queue_advance.known_base_url(
                    session, repository_id
                )
            try:
                steps = merge_queue_advance.advance_committed(
                    database, settings.repos_dir, config, repository_id, branch
                )
            except Exception:  # one broken queue must not hold up every other one
                log.exception("advancing the merge queue of %s (repository %s) failed",
                              branch, repository_id)  # fmt: skip
                continue
            done += [f"#{s.change_number} {s.state}" for s in steps]
        return done
    finally:
        database.dispose()


# --- search ---------------------------------------------------------------------------------


def index_code(repository_id: int, repo_path: str | None = None) -> dict:
    """After a push to a default branch (or a new default branch): bring the repository's
    code index to the branch's head, reading only the paths that changed since the commit it
    shows (forge.search)."""
    from forge.config import Settings
    from forge.db import Database
    from forge.models import Repository
    from forge.repos.repositories import disk_path
    from forge.search.code_index import index_code as bring_up_to_date

    settings = Settings.from_env()
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            repository = session.get(Repository, repository_id)
            if repository is None:
                return {"skipped": "the repository is gone"}
            path = Path(repo_path) if repo_path else disk_path(settings.repos_dir, repository)
            state = bring_up_to_date(session, path, repository)
            return {"commit": state.commit_sha, "files": state.files}
    finally:
        database.dispose()


def mail_notification(notification_id: int, base_url: str = "") -> dict:
    """Mail an inbox entry to its user (forge.notify.inbox.mail) when FORGE_SMTP_URL is set;
    the mail itself is then sent by `send_mail`, with its retries."""
    from forge.config import Settings
    from forge.notify import inbox

    settings = Settings.from_env()
    if settings.smtp is None:
        return {"notification": notification_id, "mailed": False}
    from forge.queue import connect

    database = _process_database(settings.database_url)
    with database.session() as session:
        # The mail's own job (send_mail) is queued as this commits.
        session.info["forge.enqueue"] = _enqueuer(connect(settings.redis_url))
        mailed = inbox.mail(session, settings.smtp, notification_id, settings.base_url or base_url)
    return {"notification": notification_id, "mailed": mailed}
