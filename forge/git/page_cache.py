"""What pages compute from history, kept on disk: a restart or a second worker starts warm.

The last commit of each entry of a folder, the commits that changed a path, a blame: each is a
pure function of object ids (a head commit names its whole history), so an entry keyed by those
ids is never stale and never needs invalidating; a push makes new heads, hence new keys, and
the old entries age out. The store is one SQLite file under $FORGE_HOME/cache, which every
process of a site opens (WAL: readers never wait for the writer), bounded by
FORGE_PAGE_CACHE_MB: once over, the least recently used entries are deleted down to 90%.

The cache is an accelerator only: any error reading or writing it (a full disk, a locked or
damaged file) is a miss, logged once, and the page is computed as without it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

# "Recently used" is recorded at most this often per entry, so reads seldom write.
TOUCH_SECONDS = 300
# The size is checked after this share of the bound has been written since the last check.
CHECK_EVERY_FRACTION = 32
KEEP_FRACTION = 0.9

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_used ON pages (used);
"""


class PageCache:
    """A bounded key -> bytes store shared by the processes of one site."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._lock = threading.Lock()
        self._written = 0
        self._failed = False

    # --- connections ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: sqlite3 connections are neither thread-safe
        # nor to be used across fork (gunicorn forks its workers after the app is made).
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=2, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    def _failure(self, action: str, exc: Exception) -> None:
        if not self._failed:
            self._failed = True
            log.warning(
                "page cache %s: %s failed (%s); computing pages without it", self.path, action, exc
            )

    # --- reading and writing -------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        try:
            connection = self._connection()
            row = connection.execute(
                "SELECT value, used FROM pages WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            now = int(time.time())
            if row[1] < now - TOUCH_SECONDS:
                connection.execute("UPDATE pages SET used = ? WHERE key = ?", (now, key))
            return zlib.decompress(row[0])
        except (sqlite3.Error, OSError, zlib.error) as exc:
            self._failure("a read", exc)
            return None

    def put(self, key: str, value: bytes) -> None:
        packed = zlib.compress(value, 1)
        if len(packed) > self.max_bytes // 8:
            return  # one entry may not push out most of the others
        try:
            connection = self._connection()
            connection.execute(
                "INSERT OR REPLACE INTO pages (key, value, size, used) VALUES (?, ?, ?, ?)",
                (key, packed, len(packed) + len(key) + 64, int(time.time())),
            )
        except (sqlite3.Error, OSError) as exc:
            self._failure("a write", exc)
            return
        with self._lock:
            self._written += len(packed)
            due = self._written >= self.max_bytes // CHECK_EVERY_FRACTION
            if due:
                self._written = 0
        if due:
            self.evict()

    def evict(self) -> int:
        """Delete the least recently used entries while the total is over the bound; returns
        how many bytes went."""
        try:
            connection = self._connection()
            total = connection.execute("SELECT COALESCE(SUM(size), 0) FROM pages").fetchone()[0]
            if total <= self.max_bytes:
                return 0
            excess = total - int(self.max_bytes * KEEP_FRACTION)
            freed, doomed = 0, []
            for key, size in connection.execute("SELECT key, size FROM pages ORDER BY used, key"):
                doomed.append((key,))
                freed += size
                if freed >= excess:
                    break
            connection.executemany("DELETE FROM pages WHERE key = ?", doomed)
            return freed
        except (sqlite3.Error, OSError) as exc:
            self._failure("an eviction", exc)
            return 0

    def total_bytes(self) -> int:
        connection = self._connection()
        return connection.execute("SELECT COALESCE(SUM(size), 0) FROM pages").fetchone()[0]


_configured: PageCache | None = None


def configure(directory: Path, max_bytes: int) -> PageCache | None:
    """Use a cache in `directory` for every reader of this process (0 bytes: none)."""
    global _configured
    if max_bytes <= 0:
        _configured = None
    elif _configured is None or _configured.path != directory / "pages.sqlite":
        _configured = PageCache(directory / "pages.sqlite", max_bytes)
    else:
        _configured.max_bytes = max_bytes
    return _configured


def current() -> PageCache | None:
    return _configured
