"""The database: engine, sessions, the declarative base, and schema migrations (Alembic).

Web requests, CLI commands and jobs each open their own session from `Database.session()`.
The schema is only ever created by migrations in forge/migrations, never by `create_all`.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event, inspect, select
from sqlalchemy import update as sa_update
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timestamps stored naive in UTC and always handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message is safe to show (no password)."""


# Seconds a client is told to wait (Retry-After) when the database cannot be reached: long
# enough for a restarted PostgreSQL or a released SQLite write lock, short enough for a person.
RETRY_AFTER = 5

# SQLite's wait for another connection's lock, in milliseconds (FORGE_DB_BUSY_TIMEOUT_MS).
DEFAULT_BUSY_TIMEOUT_MS = 30_000

# PostgreSQL SQLSTATE classes and codes that say "the server cannot serve you now" rather than
# "this statement is wrong": connection exceptions, and the server shutting down or starting.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def unavailable_reason(exc: BaseException) -> str | None:
    """A one-line reason when `exc` means the database cannot be reached right now (a lost or
    refused connection, the server shutting down, SQLite still locked by another connection
    after the busy timeout, no pooled connection free), so that trying again shortly is the
    answer; None for any other error, which is a bug or bad input and stays one."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if isinstance(exc, PoolTimeout):
        return "no database connection free in the pool"
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    reason = (str(orig).strip().splitlines() or [""])[0] if orig is not None else ""
    reason = reason or type(orig or exc).__name__
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return reason
    if not isinstance(exc, OperationalError):
        return None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:
        # No SQLSTATE: psycopg's own connection errors (refused, closed, reset) or sqlite3.
        if type(orig).__module__.startswith("sqlite3"):
            lowered = reason.lower()
            return reason if "locked" in lowered or "busy" in lowered else None
        return reason
    if sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES:
        return reason
    return None


def parse_database_url(url: str) -> URL:
    """Parse a database URL; `postgres://` and a bare `postgresql://` mean psycopg (version 3),
    the driver forge's `pg` extra installs (SQLAlchemy 2.0 would otherwise look for psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Database:
    def __init__(self, url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS):
        self.url = parse_database_url(url)
        kwargs: dict = {"future": True}
        if self.url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {
                "timeout": busy_timeout_ms / 1000,
                "check_same_thread": False,
            }
        else:
            # A connection the server dropped (a restart, a network cut) is found and replaced
            # when taken from the pool, so the first request after an outage works.
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self):
        """A session that commits when the block succeeds and rolls back when it raises."""
        session: Session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def check(self) -> None:
        """Raise DatabaseUnavailable unless the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except (DBAPIError, PoolTimeout) as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            raise DatabaseUnavailable(
                f"cannot connect to database {self.safe_url}: {reason}"
            ) from None

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration (or to `revision`, as a restore does)."""
        from alembic import command

        self.check()
        with self.engine.begin() as conn:
            cfg = _alembic_config(conn)
            command.upgrade(cfg, revision)

    def is_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return False
            current = set(MigrationContext.configure(conn).get_current_heads())
        heads = set(ScriptDirectory.from_config(_alembic_config(None)).get_heads())
        return current == heads

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


class RowBusy(Exception):
    """Another transaction holds the row (or, on SQLite, the database) and this one cannot
    wait for it: try again."""


def lock_row(session: Session, instance) -> None:
    """Hold `instance`'s row until this transaction ends, and reload it as the transaction
    that held it before left it: the one decision that holds across web workers, processes and
    machines (a check-then-act on the row, like "is the change still open?", is safe after it).

    PostgreSQL locks the row (SELECT ... FOR UPDATE): another transaction asking for it waits
    for this one to end, then reads what it committed. SQLite has no row locks; a write takes
    the database's write lock, which others wait for (busy_timeout) the same way. Raises
    RowBusy when SQLite cannot give this transaction the lock without losing what it read
    (it began before the holder committed)."""
    mapper = inspect(instance).mapper
    key = mapper.primary_key[0]
    ident = getattr(instance, key.key)
    if session.get_bind().dialect.name == "sqlite":
        try:
            session.execute(
                sa_update(mapper.local_table).where(key == ident).values({key.name: ident})
            )
        except OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise RowBusy(str(exc)) from None
            raise
    else:
        # The key column alone: an entity's eager joins cannot be locked (outer joins).
        session.execute(select(key).where(key == ident).with_for_update())
    session.refresh(instance)


def _sqlite_pragmas(busy_timeout_ms: int):
    def on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


# --- work on disk that must follow the fate of the transaction --------------------------------
# Creating a repository writes a directory; deleting one removes it. These hooks let services
# tie such work to the commit or rollback of the session, so disk and database agree.


def after_commit(session: Session, action) -> None:
    session.info.setdefault("after_commit", []).append(action)


_COUNTED = "forge.counted_once"


def counted_once(session: Session, kind: str, key: int, count) -> int:
    """`count()` (a query of a number) asked once per `kind` and `key` while the session does
    not write: a listing shows many objects of a few repositories (a review queue's changes),
    and a count per object made its queries grow with its length. Forgotten at every flush."""
    counts = session.info.setdefault(_COUNTED, {})
    if (kind, key) not in counts:
        counts[kind, key] = count()
    return counts[kind, key]


def added_once(session: Session, row) -> bool:
    """Add `row` in a savepoint; False, with nothing added and the caller's transaction going
    on, when a unique constraint says it is there already (another request's, or the same
    decision recorded before)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


@event.listens_for(Session, "after_flush")
def _forget_counts(session: Session, _context) -> None:
    session.info.pop(_COUNTED, None)


def after_rollback(session: Session, action) -> None:
    session.info.setdefault("after_rollback", []).append(action)


def _run_hooks(session: Session, name: str) -> None:
    actions = session.info.pop(name, [])
    session.info.pop("after_commit" if name == "after_rollback" else "after_rollback", None)
    if name == "after_rollback":
        actions.reverse()  # undo the last change first: a rename is undone before its HEAD
    for action in actions:
        action()


def _committed(session: Session) -> None:
    # SQLAlchemy calls after_commit when a savepoint is released too (begin_nested's block
    # ending well): the transaction's work is not committed yet, so nothing may follow it.
    if not session.in_nested_transaction():
        _run_hooks(session, "after_commit")


event.listen(Session, "after_commit", _committed)


def _rolled_back(session: Session, transaction) -> None:
    # Only the outermost transaction's rollback ends it. A savepoint or a failed flush rolled
    # back (an IntegrityError caught inside begin_nested) leaves the transaction going: its
    # after-commit work must still follow the commit.
    if transaction.parent is None:
        _run_hooks(session, "after_rollback")


event.listen(Session, "after_soft_rollback", _rolled_back)
