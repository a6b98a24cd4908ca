"""The review queue under load: 10,000 open changes and 100,000 votes.

    python bench/review_queue.py [--requests 200] [--database-url postgresql+psycopg://...]

Makes a fresh FORGE_HOME (SQLite, or a schema of its own in the given PostgreSQL database,
dropped afterwards), fills it with straight SQL inserts (users, 40 repositories, 10,000 open changes
with one to three patch sets, 100,000 Code-Review and Verified votes over all patch sets, a
few hundred live claims), serves it with gunicorn as `forge serve` does, and times the
reviewer's queue page `/review` and `GET /api/v3/review-queue` (first page, a later page, a
repository filter). Prints p50 and p95 per request in milliseconds; the target is p95 under
100 ms on both databases.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forge_bench import FORGE, free_port, start_web, stop  # noqa: E402

CHANGES = 10_000
VOTES = 100_000
USERS = 300
REPOS = 40
PASSWORD = "bench-password"


def populate(database, seed: int = 7) -> None:
    """Bulk-insert the data set with straight SQL (the user "bench" exists already)."""
    from forge.models import Change, PatchSet, Repository, User
    from forge.models.quality import ReviewClaim, Vote

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    start = now - timedelta(days=400)
    with database.engine.begin() as conn:
        bench_id, password = conn.execute(
            text("SELECT id, password_hash FROM users WHERE lower_name = 'bench'")
        ).one()
        conn.execute(
            insert(User),
            [
                {"name": f"user{i}", "lower_name": f"user{i}", "email": f"user{i}@example.org",
                 "full_name": "", "password_hash": password, "is_admin": False,
                 "is_suspended": False, "reputation": 0, "created_at": start, "updated_at": start}
                for i in range(USERS)
            ],
        )  # fmt: skip
        user_ids = [
            row[0] for row in conn.execute(text("SELECT id FROM users WHERE lower_name != 'bench'"))
        ]
        conn.execute(
            insert(Repository),
            [
                {"owner_id": user_ids[i], "name": f"repo{i}", "lower_name": f"repo{i}",
                 "description": "", "is_private": i % 10 == 9, "default_branch": "main",
                 "created_at": start, "updated_at": start, "last_change_number": 0}
                for i in range(REPOS)
            ],
        )  # fmt: skip
        repo_ids = [row[0] for row in conn.execute(text("SELECT id FROM repositories"))]
        numbers = dict.fromkeys(repo_ids, 0)
        changes = []
        for i in range(CHANGES):
            repo_id = rng.choice(repo_ids)
            numbers[repo_id] += 1
            created = start + timedelta(minutes=i * 50)
            # A few are the reviewer's own, to be skipped.
            author = bench_id if i % 97 == 0 else rng.choice(user_ids)
            changes.append(
                {"repository_id": repo_id, "number": numbers[repo_id], "title": f"Change {i}",
                 "description": "", "author_id": author, "state": "open", "base_branch": "main",
                 "head_sha": f"{i:040x}", "created_at": created, "updated_at": created}
            )  # fmt: skip
        conn.execute(insert(Change), changes)
        for repo_id, last in numbers.items():
            conn.execute(
                text("UPDATE repositories SET last_change_number = :n WHERE id = :id"),
                {"n": last, "id": repo_id},
            )
        change_rows = conn.execute(text("SELECT id FROM changes ORDER BY id")).all()
        patch_sets, current = [], {}
        for (change_id,), row in zip(change_rows, changes, strict=True):
            author, created = row["author_id"], row["created_at"]
            count = rng.choice((1, 1, 2, 3))
            current[change_id] = count
            for n in range(1, count + 1):
                patch_sets.append(
                    {"change_id": change_id, "number": n, "head_sha": f"{change_id:032x}{n:08x}",
                     "base_sha": "0" * 40, "uploader_id": author, "created_at": created}
                )  # fmt: skip
        conn.execute(insert(PatchSet), patch_sets)
        votes, seen = [], set()
        ids = [row[0] for row in change_rows]
        voters = [*user_ids, bench_id]
        while len(votes) < VOTES:
            change_id = rng.choice(ids)
            user_id = rng.choice(voters)
            label = "Code-Review" if rng.random() < 0.8 else "Verified"
            if (change_id, user_id, label) in seen:
                continue
            seen.add((change_id, user_id, label))
            votes.append(
                {"change_id": change_id, "user_id": user_id, "label": label,
                 "value": rng.choice((-2, -1, 1, 1, 2)) if label == "Code-Review"
                 else rng.choice((-1, 1)),
                 "message": "", "patch_set_number": rng.randint(1, current[change_id]),
                 "via": "api", "created_at": now, "updated_at": now}
            )  # fmt: skip
        conn.execute(insert(Vote), votes)
        claimed = rng.sample(ids, 300)
        conn.execute(
            insert(ReviewClaim),
            [
                {"change_id": change_id, "user_id": rng.choice(user_ids),
                 "expires_at": now + timedelta(minutes=20)}
                for change_id in claimed
            ],
        )  # fmt: skip
    if database.engine.dialect.name == "postgresql":
        # What autovacuum does to a table after a bulk load, so the numbers are steady state:
        # statistics for the planner and a visibility map for index-only scans.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("users", "repositories", "changes", "patch_sets", "votes"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))


@contextmanager
def own_schema(database_url: str):
    """A PostgreSQL schema of the benchmark's own (dropped afterwards), as the tests do, so
    the database may hold other things; yields the URL that uses it."""
    from forge.db import Database

    schema = "bench_" + secrets.token_hex(4)
    admin = Database(database_url)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(root: Path, database_url: str | None) -> tuple[dict, str]:
    """A FORGE_HOME with the schema, the user "bench" and the data; returns env and token."""
    import os

    from forge.db import Database

    home = root / "forge-home"
    env = {**os.environ, "FORGE_HOME": str(home), "MALLOC_ARENA_MAX": "2"}
    env.pop("REDIS_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    subprocess.run([*FORGE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*FORGE, "user", "create", "bench", "--email", "bench@example.org", "--password-stdin"],
        input=f"{PASSWORD}\n".encode(),
        env=env,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [*FORGE, "token", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    database = Database(database_url or f"sqlite:///{home / 'forge.db'}")
    began = time.monotonic()
    populate(database)
    print(f"populated in {time.monotonic() - began:.1f} s", file=sys.stderr)
    database.dispose()
    return env, token


def sign_in(base: str) -> requests.Session:
    import re

    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = browser.post(
        f"{base}/login",
        data={"username": "bench", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.status_code
    return browser


def timed(get, url: str, runs: int) -> tuple[float, float]:
    for _ in range(5):  # warm up both workers
        assert get(url).status_code == 200
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.status_code
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    from forge.queue.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        url = stack.enter_context(own_schema(args.database_url)) if args.database_url else None
        env, token = prepare(root, url)
        redis_server = EmbeddedRedis(root / "redis")
        redis_server.start()
        env["REDIS_URL"] = redis_server.url
        port = free_port()
        web = start_web(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            browser = sign_in(base)
            api = requests.Session()
            api.headers["Authorization"] = f"token {token}"
            cases = [
                ("page /review", browser.get, f"{base}/review"),
                ("page /review?page=50", browser.get, f"{base}/review?page=50"),
                ("page /user1/repo1/review", browser.get, f"{base}/user1/repo1/review"),
                ("API review-queue", api.get, f"{base}/api/v3/review-queue"),
                ("API per_page=100&page=20", api.get,
                 f"{base}/api/v3/review-queue?per_page=100&page=20"),
                ("API ?repository=user1/repo1", api.get,
                 f"{base}/api/v3/review-queue?repository=user1/repo1"),
            ]  # fmt: skip
            database = "PostgreSQL" if args.database_url else "SQLite"
            print(f"\nReview queue, {CHANGES:,} open changes, {VOTES:,} votes, {database}, "
                  f"{args.requests} requests each\n")  # fmt: skip
            print("| request                        | p50 ms | p95 ms | p95 < 100 ms |")
            print("|--------------------------------|--------|--------|--------------|")
            for name, get, url in cases:
                p50, p95 = timed(lambda u, get=get: get(u, timeout=30), url, args.requests)
                ok = "yes" if p95 < 100 else "**no**"
                print(f"| {name:<30} | {p50:6.1f} | {p95:6.1f} | {ok:<12} |")
        finally:
            stop(web)
            redis_server.stop()


if __name__ == "__main__":
    main()
