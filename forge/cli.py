"""The `forge` command: serve, worker, ci, gc, user, token, db.

Bad input ends with exit code 2 and one line on stderr, having written nothing.
"""

from __future__ import annotations

import os
import sys

import click

from forge.config import ConfigError, Settings
from forge.version import __version__


class Failure(click.ClickException):
    """A user-facing failure: one line on stderr and exit code 2."""

    exit_code = 2


def fail(message: str):
    raise Failure(message)


class ForgeGroup(click.Group):
    """Reports every error, click's usage errors too, as one `forge: error:` line."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            message = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"forge: error: {message}", err=True)
            code = exc.exit_code
        except click.Abort:
            click.echo("forge: error: aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _take_home(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """`--home` given after the command (`forge serve --home DIR`), as users type it."""
    if value is None:
        return
    obj = ctx.find_root().ensure_object(dict)
    earlier = obj.get("home")
    if earlier is not None and os.path.abspath(earlier) != os.path.abspath(value):
        raise click.BadParameter(f"given twice, as {earlier!r} and {value!r}", ctx, _param)
    obj["home"] = value


def home_option(command):
    """Accept `--home DIR` after a command too; `forge --home DIR CMD` keeps working."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        expose_value=False,
        is_eager=True,
        callback=_take_home,
        help="Directory holding forge's data (default: $FORGE_HOME or ./instance).",
    )(command)


def _load_settings(ctx: click.Context, create_home: bool) -> Settings:
    try:
        settings = Settings.from_env(home=ctx.obj.get("home"))
        if create_home and not settings.home.exists() and not _is_sqlite(settings):
            # Check an external database before creating anything, so a typo writes nothing.
            _open_database(settings).dispose()
        settings.ensure_home(create=create_home)
    except ConfigError as exc:
        fail(str(exc))
    return settings


def _is_sqlite(settings: Settings) -> bool:
    return settings.database_url.startswith("sqlite")


def _open_database(settings: Settings):
    from forge.db import Database, DatabaseUnavailable

    database = Database(settings.database_url)
    try:
        database.check()
    except DatabaseUnavailable as exc:
        fail(str(exc))
    return database


def _database(settings: Settings, upgrade: bool):
    database = _open_database(settings)
    if upgrade:
        database.upgrade()
    elif not database.is_current():
        fail("the database schema is not up to date; run 'forge db upgrade'")
    return database


@click.group(cls=ForgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    help="Directory holding forge's data (default: $FORGE_HOME or ./instance).",
)
@click.version_option(__version__, prog_name="forge")
@click.pass_context
def main(ctx: click.Context, home: str | None):
    """forge: a lightweight, self-hosted git forge."""
    from forge import subscribers

    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    # This process (a worker, a reconcile pass) may raise events: their subscribers first.
    subscribers.register()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@home_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int):
    """Run everything: migrations, web server, embedded Redis and a worker."""
    from forge.server import Supervisor

    settings = _load_settings(ctx, create_home=True)
    _database(settings, upgrade=True).dispose()
    try:
        code = Supervisor(settings, host, port).run()
    except RuntimeError as exc:
        fail(str(exc))
    sys.exit(code)


@main.command()
@click.option(
    "--queues",
    default="default,hooks,ci",
    show_default=True,
    help="Comma-separated queues to take jobs from.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--no-reconcile",
    is_flag=True,
    help="Do not run the CI reconciler beside this worker (another worker runs it).",
)
@home_option
@click.pass_context
def worker(ctx: click.Context, queues: str, burst: bool, no_reconcile: bool):
    """Run a job worker (start more of them to scale out)."""
    from forge.queue import QUEUES, QueueUnavailable
    from forge.worker import run_worker

    settings = _load_settings(ctx, create_home=False)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown or not names:
        fail(f"unknown queue {unknown[0] if unknown else queues!r}; queues: {', '.join(QUEUES)}")
    _database(settings, upgrade=False).dispose()
    # Jobs read the settings from the environment (forge.jobs), --home included.
    os.environ.update(settings.environment())
    extra = []
    if "ci" in names and settings.ci.concurrency > 1 and not burst:
        # An rq worker runs one job at a time: FORGE_CI_CONCURRENCY=N starts N-1 more.
        extra = _start_ci_workers(settings.ci.concurrency - 1)
    if "ci" in names and not burst and not no_reconcile:
        from forge.worker import start_reconciler

        # Every 15 s (one worker at a time): a killed worker's jobs end, lost ones requeue.
        extra.append(start_reconciler())
    try:
        run_worker(settings.redis_url, names, burst=burst)
    except QueueUnavailable as exc:
        hint = " (is 'forge serve' running?)" if settings.redis_embedded else ""
        fail(f"{exc}{hint}")
    finally:
        for proc in extra:
            proc.terminate()


def _start_ci_workers(count: int) -> list:
    import subprocess

    from forge.procs import die_with_parent

    argv = [sys.executable, "-m", "forge.cli", "worker", "--queues", "ci", "--no-reconcile"]
    return [subprocess.Popen(argv, preexec_fn=die_with_parent) for _ in range(count)]


@main.group()
def ci():
    """CI runs: keep the database and the queue in step."""


@ci.command("reconcile")
@click.option(
    "--every",
    type=click.IntRange(1, 3600),
    default=None,
    help="Keep going, one pass every this many seconds, while the parent process lives "
    "(how `forge worker` runs it beside a CI worker).",
)
@home_option
@click.pass_context
def ci_reconcile(ctx: click.Context, every: int | None):
    """End CI jobs whose worker is gone; queue the queued jobs the queue lost and the
    outbox's jobs whose hand-over failed."""
    from forge.jobs import reconcile_ci, relay_outbox
    from forge.queue import QueueUnavailable, check, connect

    settings = _load_settings(ctx, create_home=False)
    if every is not None:
        from forge.worker import reconcile_forever

        reconcile_forever(every)
        return
    _database(settings, upgrade=False).dispose()
    os.environ.update(settings.environment())
    try:
        check(connect(settings.redis_url))
    except QueueUnavailable as exc:
        fail(str(exc))
    ended = reconcile_ci()
    relayed = relay_outbox()
    click.echo(f"ended {len(ended)} lost job(s); relayed {relayed} outbox job(s)", err=True)


@main.command()
@home_option
@click.pass_context
def gc(ctx: click.Context):
    """Remove what pushes cut short left behind: quarantines (objects/incoming-*) nothing has
    changed for an hour; and write the refs/changes/NN/N/P of patch sets uploaded before forge
    kept them. Workers of the default queue do both every few minutes too."""
    from forge.git.maintenance import remove_stale_quarantines
    from forge.review.patch_set_refs import backfill_patch_set_refs

    settings = _load_settings(ctx, create_home=False)
    removed = remove_stale_quarantines(settings.repos_dir)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"removed {len(removed)} leftover quarantine(s)", err=True)
    database = _database(settings, upgrade=False)
    try:
        with database.session() as session:
            written = backfill_patch_set_refs(session, settings.repos_dir)
    finally:
        database.dispose()
    for done in written:
        click.echo(f"wrote {done.repository} {done.ref}")
    click.echo(f"wrote {len(written)} missing patch set ref(s)", err=True)


@main.group()
def search():
    """Search's index (repositories, changes and the default branches' code)."""


@search.command("reindex")
@click.argument("repository", required=False, metavar="[OWNER/NAME]")
@home_option
@click.pass_context
def search_reindex(ctx: click.Context, repository: str | None):
    """Index again from scratch: every repository's and change's document and each default
    branch's files (or only REPOSITORY's code), as after a restore or a change of bounds."""
    from sqlalchemy import select

    from forge.models import Repository
    from forge.repos.repositories import disk_path, find_repository
    from forge.search import code_index, documents

    settings = _load_settings(ctx, create_home=False)
    database = _database(settings, upgrade=False)
    try:
        with database.session() as session:
            if repository is None:
                repos = list(session.scalars(select(Repository).order_by(Repository.id)))
                click.echo(f"indexed {documents.rebuild(session)} repositories and changes")
            else:
                owner, _, name = repository.partition("/")
                found = find_repository(session, owner, name) if name else None
                if found is None:
                    fail(f"no repository {repository}")
                repos = [found]
            ids = [repo.id for repo in repos]
        for repo_id in ids:
            with database.session() as session:
                repo = session.get(Repository, repo_id)
                code_index.forget_state(session, repo.id)
                path = disk_path(settings.repos_dir, repo)
                state = code_index.index_code(session, path, repo)
                click.echo(f"{repo.full_name}: {state.files} files indexed at "
                           f"{state.commit_sha[:12] or 'no default branch'}")  # fmt: skip
    finally:
        database.dispose()


@main.group()
def user():
    """Manage user accounts."""


@user.command("create")
@click.argument("name")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--admin", is_flag=True, help="Make the user a site administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@home_option
@click.pass_context
def user_create(ctx: click.Context, name: str, email: str, admin: bool, password_stdin: bool):
    """Create a user account."""
    from forge.accounts import users as accounts
    from forge.errors import ForgeError

    settings = _load_settings(ctx, create_home=False)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        fail("no password given: pass --password-stdin and write it to standard input")
    database = _database(settings, upgrade=True)
    try:
        with database.session() as session:
            created = accounts.create_user(session, name, email, password, is_admin=admin)
            click.echo(f"created user {created.name}" + (" (admin)" if admin else ""), err=True)
    except ForgeError as exc:
        fail(exc.message)
    finally:
        database.dispose()


@main.group()
def token():
    """Manage personal access tokens."""


@token.command("create")
@click.argument("name")
@click.option("--scopes", default=None, help="Comma-separated scopes (default: all allowed).")
@click.option("--label", default="cli", show_default=True, help="A note to recognise it by.")
@home_option
@click.pass_context
def token_create(ctx: click.Context, name: str, scopes: str | None, label: str):
    """Create a token for user NAME and print it (it is shown only this once)."""
    from forge.accounts import users as accounts
    from forge.errors import ForgeError

    settings = _load_settings(ctx, create_home=False)
    database = _database(settings, upgrade=False)
    try:
        with database.session() as session:
            owner = accounts.get_user(session, name)
            _row, secret = accounts.create_token(session, owner, label, scopes)
    except ForgeError as exc:
        fail(exc.message)
    finally:
        database.dispose()
    click.echo(secret)


@main.group()
def db():
    """Manage the database schema."""


@db.command("upgrade")
@home_option
@click.pass_context
def db_upgrade(ctx: click.Context):
    """Create or migrate the database schema to the newest version."""
    settings = _load_settings(ctx, create_home=True)
    _database(settings, upgrade=True).dispose()
    click.echo("database is up to date", err=True)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@home_option
@click.pass_context
def backup(ctx: click.Context, file: str):
    """Write a consistent snapshot of the database and the repositories to FILE (a gzipped
    tar), while forge keeps serving."""
    from pathlib import Path

    from forge.backup import BackupError
    from forge.backup import backup as take_backup

    target = Path(file)
    if not target.resolve().parent.is_dir():
        fail(f"cannot write {file}: its directory does not exist")
    settings = _load_settings(ctx, create_home=False)
    database = _database(settings, upgrade=False)
    try:
        summary = take_backup(settings, database, target)
    except BackupError as exc:
        fail(str(exc))
    finally:
        database.dispose()
    click.echo(
        f"backed up {summary.repositories} repositories and {summary.rows} rows "
        f"(revision {summary.revision}) to {file}",
        err=True,
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@home_option
@click.pass_context
def restore(ctx: click.Context, file: str):
    """Restore FILE, made by `forge backup`, into a new, empty home and database."""
    from pathlib import Path

    from forge.backup import BackupError
    from forge.backup import restore as restore_backup
    from forge.db import DatabaseUnavailable

    source = Path(file)
    if not source.is_file():
        fail(f"cannot read {file}: no such file")
    try:
        settings = Settings.from_env(home=ctx.obj.get("home"))
    except ConfigError as exc:
        fail(str(exc))
    if not settings.home.parent.is_dir():
        fail(f"cannot create FORGE_HOME {settings.home}: parent does not exist")
    try:
        summary = restore_backup(settings, source)
    except (BackupError, DatabaseUnavailable) as exc:
        fail(str(exc))
    click.echo(
        f"restored {summary.repositories} repositories and {summary.rows} rows "
        f"(a {summary.database} backup at revision {summary.revision}) into {settings.home}",
        err=True,
    )


if __name__ == "__main__":
    main(prog_name="forge")
