"""`forge backup` and `forge restore`: one archive holding the database and the repositories,
taken while forge serves, and restored into a new, empty home.

The archive is a gzipped tar:

    manifest.json            forge's version, the alembic revision, the time, the database kind,
                             the tables (in the order they load) and the repositories
    db/NNN-TABLE.jsonl       one table: a header line (columns and their kinds), then one JSON
                             array per row, in primary-key order
    home/secret_key          the key signing sessions, when FORGE_HOME holds one
    home/repos/OWNER/NAME.git  each repository, its refs as one packed-refs file

The rows are portable data rather than a native dump, so a backup of SQLite restores into
PostgreSQL and the other way round. Webhook secrets and token hashes are rows like any other
and come back as they were.

Why the snapshot holds no half of a push. Every ref change (a push, a merge, an API call)
moves refs under the repository's ref lock (`forge.git.refs.locked_refs`) and writes its rows
(the push event at least: `forge.repos.refs.update_refs` flushes them) in its database
transaction before it lets go of that lock. A push over HTTP keeps the lock until its
transaction has committed, or failed and put its refs back (`forge.web.git_http`); the others
commit just after letting go. So the backup:

1. takes the ref lock of every repository, in path order: from here no ref moves, and no push
   is between its commit failing and its refs going back;
2. waits for every database transaction writing at this moment to end (SQLite: takes the write
   lock, which a writer holds until it ends; PostgreSQL: waits until each backend that holds a
   transaction id, pg_stat_activity's backend_xid, holds it no more). A ref change that moved
   refs before step 1 wrote its rows under the lock, so its transaction is among them: its rows
   are now committed;
3. opens one read transaction (SQLite's read transaction in WAL mode, PostgreSQL's REPEATABLE
   READ) and reads the repositories from it; when one of them was not locked in step 1 (created
   or renamed meanwhile), it lets go of everything and starts again;
4. reads every repository's refs, then lets go of the ref locks;
5. reads every table in that one transaction, and copies each repository's objects
   (`forge.git.snapshot` says why copying them after the refs were read is enough).

Every push is therefore wholly before the snapshot (its refs read in step 4, its rows seen in
step 3) or wholly after it (its refs moved after step 4, its rows committed after step 3, and
neither is in the archive). Writers wait only for steps 1 to 4, which read no table; and as a
writer may hold the database while it waits for a ref lock (the merge queue locks its entries'
rows first), step 2 waits only briefly before the backup lets go and tries again.

Restore refuses a home that is not empty or a database that has tables, migrates the new
database to the backup's revision, loads the rows in one transaction, sets PostgreSQL's
sequences past the highest ids, migrates on to the newest revision, and writes the home's files.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forge.config import Settings
from forge.db import Database
from forge.git import refs as git_refs
from forge.git import snapshot as git_snapshot
from forge.git import storage
from forge.version import __version__

FORMAT = 1
# How long step 2 waits for the transactions writing when the refs were locked, and how long
# the backup tries to find a moment when they all end.
WRITERS_WAIT = 2.0
SNAPSHOT_TIMEOUT = 120.0
BATCH = 500


class BackupError(Exception):
    """Backup or restore cannot go on; the message is one line, safe to show."""


@dataclass
class Summary:
    repositories: int
    rows: int
    revision: str
    database: str


# --- backup -----------------------------------------------------------------------------------


def backup(settings: Settings, database: Database, target: Path) -> Summary:
    """Write a consistent snapshot of the database and the repositories to `target`."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            summary = _write(settings, database, tar)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _write(settings: Settings, database: Database, tar: tarfile.TarFile) -> Summary:
    engine = database.engine
    kind = engine.dialect.name
    with engine.connect() as conn:
        conn = _snapshot(settings, engine, conn)
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        metadata = sa.MetaData()
        metadata.reflect(conn)
        derived = _full_text_tables(conn)
        tables = [
            t
            for t in metadata.sorted_tables
            if t.name != "alembic_version" and t.name not in derived
        ]
        rows = 0
        for number, table in enumerate(tables):
            rows += _dump_table(conn, table, tar, f"db/{number:03d}-{table.name}.jsonl")
        repositories = conn.info.pop("forge.repositories")
        # The objects are read after the transaction's rows: copying takes time, and the
        # read transaction (holding old row versions) ends first.
        conn.rollback()
    for arcname, path, snap in repositories:
        git_snapshot.add_to_tar(tar, arcname, path, snap)
    _add_release_assets(tar, settings.releases_dir)
    secret = settings.home / "secret_key"
    if secret.is_file():
        tar.add(str(secret), arcname="home/secret_key")
    manifest = {
        "format": FORMAT,
        "forge_version": __version__,
        "alembic_revision": revision,
        "created_at": datetime.now(UTC).isoformat(),
        "database": kind,
        "tables": [t.name for t in tables],
        "rows": rows,
        "repositories": [arcname.removeprefix("home/repos/") for arcname, _p, _s in repositories],
    }
    _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode() + b"\n")
    return Summary(len(repositories), rows, revision, kind)


def _snapshot(settings: Settings, engine: sa.Engine, conn: Connection) -> Connection:
    """Steps 1 to 4 of the module's docstring: returns `conn` in its read transaction, the
    repositories' snapshots in conn.info["forge.repositories"].

    A writer may hold the database (the merge queue locks its entries first) and wait for a ref
    lock this holds: so step 2 waits only briefly, and when the writers have not ended by
    then, every lock is let go (that writer goes on) and the steps start again."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT
    while time.monotonic() < deadline:
        paths = _repository_paths(settings.repos_dir)
        with contextlib.ExitStack() as locks:
            for path in paths:
                repo = locks.enter_context(storage.open_repo(path))
                locks.enter_context(git_refs.locked_refs(repo))
            if _wait_for_writers(engine, WRITERS_WAIT):
                conn = _begin_read(conn)
                wanted = _repositories_in(conn, settings.repos_dir)
                if all(path in paths for _arcname, path in wanted):
                    snaps = []
                    for arcname, path in wanted:
                        with storage.open_repo(path) as repo:
                            snaps.append((arcname, path, git_snapshot.capture(repo)))
                    conn.info["forge.repositories"] = snaps
                    return conn
                conn.rollback()
        # Let go for a moment: the writer that held things up takes the lock it waits for.
        time.sleep(0.2)
    raise BackupError(
        f"no moment without database writers in {SNAPSHOT_TIMEOUT:.0f} s "
        "(or repositories kept being created); try again"
    )


def _add_release_assets(tar: tarfile.TarFile, root: Path) -> None:
    """Release assets' files (FORGE_HOME/releases), after the rows that name them: a file is
    never changed once in place, so each is whole; one uploaded since the rows were read is
    an extra file nothing names, one deleted since is missing (its download answers 404)."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".upload-"):  # uploads still arriving
            try:
                tar.add(str(path), arcname="home/releases/" + path.relative_to(root).as_posix())
            except FileNotFoundError:
                continue  # deleted with its release while the backup ran


def _repository_paths(repos_dir: Path) -> list[Path]:
    if not repos_dir.is_dir():
        return []
    found = [
        path
        for owner in repos_dir.iterdir()
        if owner.is_dir() and not owner.name.startswith(".")
        for path in owner.glob("*.git")
        if path.is_dir() and not path.name.startswith(".")
    ]
    return sorted(found)


def _repositories_in(conn: Connection, repos_dir: Path) -> list[tuple[str, Path]]:
    users = sa.table("users", sa.column("id"), sa.column("name"))
    repos = sa.table("repositories", sa.column("owner_id"), sa.column("name"), sa.column("id"))
    query = (
        sa.select(users.c.name, repos.c.name)
        .select_from(repos.join(users, users.c.id == repos.c.owner_id))
        .order_by(repos.c.id)
    )
    found = []
    for owner, name in conn.execute(query):
        path = storage.repo_path(repos_dir, owner, name)
        found.append((f"home/repos/{path.parent.name}/{path.name}", path))
    return found


def _wait_for_writers(engine: sa.Engine, timeout: float) -> bool:
    """Step 2: True once every transaction writing now has ended, False after `timeout`."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as writer:
            writer = writer.execution_options(isolation_level="AUTOCOMMIT")
            writer.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            try:
                # The write lock: granted once the writer holding it ends.
                writer.exec_driver_sql("BEGIN IMMEDIATE")
                writer.exec_driver_sql("ROLLBACK")
            except sa.exc.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                raise
            finally:
                writer.exec_driver_sql("PRAGMA busy_timeout=30000")
        return True
    # Every transaction of this database that has written (it holds an xid), by backend, and
    # then until each of those backends holds that xid no more. Not the snapshot's xip list: a
    # transaction whose xid is at or past the snapshot's xmax (none newer has ended yet, as on
    # a quiet server) is in progress but not listed there.
    writers = sa.text(
        "SELECT pid, backend_xid::text FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
        " AND datname = current_database() AND pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        running = set(conn.execute(writers).tuples())
        deadline = time.monotonic() + timeout
        while running:
            running &= set(conn.execute(writers).tuples())
            if running and time.monotonic() > deadline:
                return False
            if running:
                time.sleep(0.02)
    return True


def _begin_read(conn: Connection) -> Connection:
    if conn.dialect.name == "sqlite":
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("BEGIN")
    else:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
    # The snapshot is taken at the transaction's first read, which is this one.
    conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar()
    return conn


def _kind(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.DateTime):
        return "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.LargeBinary):
        return "bytes"
    return "plain"


def _encode(value, kind: str):
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        return value.isoformat()
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    return value


def _decode(value, kind: str):
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def _full_text_tables(conn: Connection) -> set[str]:
    """SQLite's full-text index of search (a virtual table and the shadow tables it keeps):
    derived from rows the backup holds, and rebuilt by their triggers as those rows load, so it
    is not copied (the restored schema has its own, whose config row a copy collides with)."""
    if conn.dialect.name != "sqlite":
        return set()
    tables = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    tables = {name: sql or "" for name, sql in tables}
    virtual = [n for n, sql in tables.items() if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    return {n for n in tables for v in virtual if n == v or n.startswith(f"{v}_")}


def _dump_table(conn: Connection, table: sa.Table, tar: tarfile.TarFile, name: str) -> int:
    # A generated column (PostgreSQL's search vector) is computed again when its row loads.
    columns = [c for c in table.columns if c.computed is None]
    kinds = [_kind(c) for c in columns]
    order = list(table.primary_key.columns) or columns
    count = 0
    with tempfile.TemporaryFile() as buffer:
        header = {"table": table.name, "columns": [c.name for c in columns], "kinds": kinds}
        buffer.write(json.dumps(header).encode() + b"\n")
        for row in conn.execute(sa.select(*columns).order_by(*order)):
            values = [_encode(v, k) for v, k in zip(row, kinds, strict=True)]
            buffer.write(json.dumps(values, separators=(",", ":")).encode() + b"\n")
            count += 1
        info = tarfile.TarInfo(name)
        info.size = buffer.tell()
        info.mode = 0o600
        info.mtime = int(time.time())
        buffer.seek(0)
        tar.addfile(info, buffer)
    return count


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


# --- restore ----------------------------------------------------------------------------------


def check_empty_home(home: Path) -> None:
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise BackupError(f"FORGE_HOME {home} is not empty; restore needs a new, empty home")


def restore(settings: Settings, source: Path) -> Summary:
    """Restore the archive `source` into the (empty) home and database of `settings`."""
    check_empty_home(settings.home)
    try:
        tar = tarfile.open(source, "r:gz")  # noqa: SIM115 (closed by the `with tar` below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source} is not a forge backup: {exc}") from None
    with tar:
        manifest = _read_manifest(tar, source)
        created = not settings.home.exists()
        # SQLite's database lives in the home: the home comes first.
        settings.home.mkdir(mode=0o700, exist_ok=True)
        database = Database(settings.database_url)
        try:
            try:
                _check_empty_database(database)
            except BaseException:
                if created:
                    shutil.rmtree(settings.home, ignore_errors=True)
                raise
            _extract_home(tar, settings.home)
            settings.ensure_home(create=False)
            database.upgrade(manifest["alembic_revision"])
            rows = _load(database, tar)
            database.upgrade()
        finally:
            database.dispose()
    return Summary(
        len(manifest["repositories"]), rows, manifest["alembic_revision"], manifest["database"]
    )


def _check_empty_database(database: Database) -> None:
    database.check()
    with database.engine.connect() as conn:
        existing = sa.inspect(conn).get_table_names()
    if existing:
        raise BackupError(
            f"the database {database.safe_url} is not empty ({len(existing)} tables); "
            "restore needs a new, empty database"
        )


def _read_manifest(tar: tarfile.TarFile, source: Path) -> dict:
    try:
        member = tar.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError, OSError, tarfile.TarError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is not a forge backup (no manifest of format {FORMAT})")
    return manifest


def _extract_home(tar: tarfile.TarFile, home: Path) -> None:
    members = []
    for member in tar.getmembers():
        if not member.name.startswith("home/"):
            continue
        member.name = member.name.removeprefix("home/")
        members.append(member)
    # The "data" filter refuses absolute paths, links out of the home and device files.
    tar.extractall(home, members=members, filter="data")


def _load(database: Database, tar: tarfile.TarFile) -> int:
    names = sorted(n for n in tar.getnames() if n.startswith("db/") and n.endswith(".jsonl"))
    rows = 0
    with database.engine.begin() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        for name in names:
            stream = tar.extractfile(name)
            header = json.loads(stream.readline())
            table = metadata.tables.get(header["table"])
            if table is None:
                raise BackupError(f"the backup's table {header['table']} is not in the schema")
            columns, kinds = header["columns"], header["kinds"]
            batch = []
            for line in stream:
                values = json.loads(line)
                batch.append(
                    {c: _decode(v, k) for c, v, k in zip(columns, values, kinds, strict=True)}
                )
                if len(batch) >= BATCH:
                    conn.execute(table.insert(), batch)
                    rows += len(batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                rows += len(batch)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, metadata)
    return rows


def _reset_sequences(conn: Connection, metadata: sa.MetaData) -> None:
    """Rows came with their ids; the next id each table hands out follows the highest."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            conn.execute(
                sa.text(
                    f'SELECT setval(:sequence, COALESCE((SELECT max("{column.name}") '
                    f'FROM "{table.name}"), 0) + 1, false)'
                ),
                {"sequence": sequence},
            )
