"""Benchmark: a mixed load of browsing, API calls, clones and pushes, driven by locust.

For each deployment, a throwaway FORGE_HOME with users and tokens; the repository `dulwich`
pushed from ../shared/testdata/dulwich.bundle (its real history: main, then every other
branch and tag forge takes; it refuses the refs whose history has a tree with a `.git`
entry, hasDotgit), a change opened on it, and three small repositories. Then, for --seconds after
every locust user has started, all at once:

  --users   people browsing (default 50): the repository's home, a folder, a file, the commit
            log, a change page, and through the API (with a token) the repository and its pulls,
            waiting --think seconds (a random 0.5x to 1.5x of it) between two requests
  --clones  `git clone --no-checkout` of `dulwich` over HTTP in a loop, each into a temporary
            directory removed afterwards (default 16)
  --pushes  `git push` of one new small commit in a loop, each to a branch of its own of
            `dulwich` (default 8)

The git commands run in locust users (one subprocess each, gevent waits on it) and report to
locust's request event, so every class shares one set of statistics.

Two deployments, each started and stopped here, on 127.0.0.1 and free ports:

  serve   `forge serve`, the embedded default (SQLite, embedded Redis, gunicorn 2 x 8
          threads, two `forge worker` processes)
  scale   as docs/deploy.md deploys it: PostgreSQL ($DATABASE_URL, in a schema of the
          benchmark's own, dropped afterwards), Redis ($REDIS_URL with the database number
          --redis-db, flushed before and after), gunicorn (4 x 8 threads) and two `forge worker`
          processes (`default,hooks` and `ci`); skipped when either variable is unset

Reported per class (pages, API, clone, push): requests, failures, p50 and p95 in ms, and the
peak of the server's memory (RSS summed over its processes, sampled every 0.5 s; for `scale`
gunicorn and the workers, not PostgreSQL or Redis). The exit code is 1 if any request failed.

    python bench/load.py [--seconds 120] [--users 50] [--clones 16] [--pushes 8]
                         [--think 1.0] [--only serve|scale] [--redis-db 9] [--keep]

The issue's targets: no failure, pages p95 under 300 ms on the 2-core machine. Run by hand;
nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import gevent
import locust  # before requests: locust has gevent patch the standard library on import
import psutil
import requests
from forge_bench import FORGE, GIT_ENV, free_port
from locust import HttpUser, User, between, constant, task
from locust.env import Environment

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
BUNDLE = TESTDATA / "dulwich.bundle"
OWNER, REPO = "bench", "dulwich"
READERS = 4  # users with a token each, for the API calls
SMALL = ("small1", "small2", "small3")
TIMEOUT = 30  # seconds, every HTTP request
GIT_TIMEOUT = 300  # seconds, every git command
# git gives up on a transfer slower than 1 kB/s for 60 s, besides the hard timeout.
GIT = ["git", "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]
CLASSES = ("pages", "API", "clone", "push")
CLIENT_NICE = 19  # the git clients' priority: see git_request


@dataclass
class Deployment:
    name: str
    base: str
    token: str  # of the owner, "bench"
    readers: list[str]  # tokens of the readers
    processes: list[subprocess.Popen]  # whose trees make up the server's memory
    change: int  # the number of the change opened on `dulwich`
    pushed_refs: str  # what of the bundle was pushed


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLASSES})
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    errors: list[str] = field(default_factory=list)
    peak_rss: int = 0
    pushed: str = ""  # what of the bundle forge took
    peak_kinds: dict[str, int] = field(default_factory=dict)  # the peak's RSS by process kind
    measuring: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds while measuring, by whom


# --- starting forge --------------------------------------------------------------------------


def run(argv: list[str], env: dict, **kwargs) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def make_home(root: Path, extra: dict) -> tuple[dict, str, list[str]]:
    """A FORGE_HOME with the owner "bench" and READERS readers; the env, its token, theirs."""
    env = {**os.environ, "FORGE_HOME": str(root / "forge-home")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra)
    # Thousands of API calls with a few tokens would run into the hourly limit.
    env["FORGE_API_RATE_LIMIT"] = "100000000"
    # dulwich's history is imported as a site imports one, without push protection: its tests'
    # fake tokens and keys would be refused (bench/push_protection.py measures the scan).
    env.setdefault("FORGE_PUSH_PROTECTION", "off")
    run([*FORGE, "db", "upgrade"], env)
    tokens = []
    for user in [OWNER, *(f"reader{n}" for n in range(1, READERS + 1))]:
        run([*FORGE, "user", "create", user, "--email", f"{user}@example.org", "--password-stdin"],
            env, input="bench-password\n")  # fmt: skip
        tokens.append(run([*FORGE, "token", "create", user], env))
    return env, tokens[0], tokens[1:]


def wait_healthy(base: str, processes: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args[:4]} exited with code {process.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base}/healthz did not answer 200 within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # What is left of its tree (gunicorn's workers, rq's work horses) goes with it.
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()


def start_serve(root: Path, stack: ExitStack) -> tuple[str, dict, list[subprocess.Popen]]:
    env, token, readers = make_home(root, {})
    port = free_port()
    log = stack.enter_context(open(root / "serve.log", "wb"))  # noqa: SIM115
    process = subprocess.Popen(
        [*FORGE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.callback(stop, process)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, [process])
    return base, {"token": token, "readers": readers}, [process]


@contextmanager
def own_schema(database_url: str):
    """A PostgreSQL schema of the benchmark's own, dropped afterwards (as tests/conftest.py's
    database_url fixture does); yields the URL that uses it."""
    from sqlalchemy import create_engine, text

    schema = "bench_load_" + secrets.token_hex(4)
    admin = create_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def own_redis_db(redis_url: str, number: int):
    """REDIS_URL with database `number`, flushed before and after (only that database)."""
    import redis

    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(path=f"/{number}"))
    client = redis.Redis.from_url(url, socket_timeout=10)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def start_scale(root: Path, stack: ExitStack, redis_db: int):
    """gunicorn, `forge worker --queues default,hooks` and `forge worker --queues ci`, with the
    environment of docs/deploy.md's /etc/forge/forge.env."""
    database_url = stack.enter_context(own_schema(os.environ["DATABASE_URL"]))
    redis_url = stack.enter_context(own_redis_db(os.environ["REDIS_URL"], redis_db))
    metrics = root / "metrics"
    metrics.mkdir()
    env, token, readers = make_home(root, {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FORGE_PROXY_COUNT": "0",  # no reverse proxy in front here
        "FORGE_MAX_BODY_MB": "1024",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    })  # fmt: skip
    port = free_port()
    log = stack.enter_context(open(root / "scale.log", "wb"))  # noqa: SIM115
    argvs = [
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "4",
         "--worker-class", "gthread", "--threads", "8", "--timeout", "120",
         "--graceful-timeout", "10", "--keep-alive", "30", "--no-control-socket",
         "--log-level", "warning", "--config", "python:forge.web.gunicorn_config",
         "forge.app:create_app()"],
        [*FORGE, "worker", "--queues", "default,hooks"],
        [*FORGE, "worker", "--queues", "ci"],
    ]  # fmt: skip
    processes = []
    for argv in argvs:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(stop, process)
        processes.append(process)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, processes)
    return base, {"token": token, "readers": readers}, processes


# --- the repositories --------------------------------------------------------------------------


def git(*args: str, cwd: Path, timeout: float = GIT_TIMEOUT) -> str:
    done = subprocess.run(
        [*GIT, *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])}: {done.stderr.strip()[-1500:]}")
    return done.stdout.strip()


def api(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    answer = requests.request(
        method, f"{base}/api/v3{path}", json=body, timeout=120,
        headers={"Authorization": f"token {token}"},
    )  # fmt: skip
    if answer.status_code >= 400:
        raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
    return answer.json() if answer.content else {}


def remote(base: str, token: str, name: str) -> str:
    return f"{base.replace('http://', f'http://{OWNER}:{token}@')}/{OWNER}/{name}.git"


def prepare_source(root: Path) -> Path:
    """A bare copy of the bundle (every branch and tag), the pushers' common base."""
    source = root / "source.git"
    git("clone", "--quiet", "--mirror", str(BUNDLE), str(source), cwd=root)
    return source


def push_refs(url: str, source: Path, refs: list[str], refused: list) -> None:
    """Push refs together; a group forge refuses is split in halves until each ref that it
    refuses alone is found (some of the bundle's 2009 trees hold a `.git` entry, which forge
    refuses as hasDotgit)."""
    if not refs:
        return
    try:
        git("push", "--quiet", url, *(f"{ref}:{ref}" for ref in refs), cwd=source, timeout=1800)
    except RuntimeError as error:
        if len(refs) == 1:
            lines = [line for line in str(error).splitlines() if "remote: error" in line]
            refused.append((refs[0], (lines or ["?"])[0].split("remote: ", 1)[-1].strip()))
            return
        half = len(refs) // 2
        push_refs(url, source, refs[:half], refused)
        push_refs(url, source, refs[half:], refused)


def populate(base: str, token: str, root: Path, source: Path) -> tuple[int, str]:
    """Create and push `dulwich` and the small repositories, open a change; (number, refs)."""
    api(base, token, "POST", "/user/repos", {"name": REPO, "description": "jelmer/dulwich"})
    url = remote(base, token, REPO)
    began = time.monotonic()
    git("push", "--quiet", url, "refs/heads/main:refs/heads/main", cwd=source, timeout=1800)
    others = [ref for ref in git("for-each-ref", "--format=%(refname)", cwd=source).split()
              if ref != "refs/heads/main"]  # fmt: skip
    refused: list[tuple[str, str]] = []
    push_refs(url, source, others, refused)
    pushed = f"main and {len(others) - len(refused)} of the {len(others)} other branches and tags"
    if refused:
        reasons = sorted({reason for _ref, reason in refused})
        names = " ".join(ref.rsplit("/", 1)[-1] for ref, _reason in refused)
        print(f"  forge refused {len(refused)} refs ({names}): {'; '.join(reasons)[:500]}",
              file=sys.stderr)  # fmt: skip
    print(f"  pushed {REPO} ({pushed}) in {time.monotonic() - began:.1f} s", file=sys.stderr)

    # A change: one commit on top of main touching two files of the real tree.
    work = root / "change-work"
    git("clone", "--quiet", "--shared", "--branch", "main", str(source), str(work), cwd=root)
    for path in ("README.rst", "dulwich/__init__.py"):
        target = work / path
        if target.exists():
            target.write_text(target.read_text() + "\n# a line added by bench/load.py\n")
    git("commit", "--quiet", "-a", "-m", "A change for the load benchmark", cwd=work)
    git("push", "--quiet", url, "HEAD:refs/heads/bench-change", cwd=work)
    change = api(base, token, "POST", f"/repos/{OWNER}/{REPO}/pulls",
                 {"title": "A change", "head": "bench-change", "base": "main",
                  "body": "Opened by bench/load.py."})["number"]  # fmt: skip
    shutil.rmtree(work)

    for name in SMALL:
        api(base, token, "POST", "/user/repos", {"name": name})
        small = root / f"{name}-work"
        git("init", "--quiet", "-b", "main", str(small), cwd=root)
        for number in range(5):
            (small / f"file{number}.txt").write_text(f"{name}: file {number}\n" * 50)
            git("add", ".", cwd=small)
            git("commit", "--quiet", "-m", f"{name}: commit {number}", cwd=small)
        git("push", "--quiet", remote(base, token, name), "main", cwd=small)
        shutil.rmtree(small)
    return change, pushed


# --- the users ---------------------------------------------------------------------------------


def git_request(user: User, kind: str, name: str, argv: list[str], cwd: Path) -> None:
    """Run one git command and report it to locust's request event, as HttpUser does.

    The command runs at the lowest priority (`nice -n CLIENT_NICE`): the cloners and pushers
    stand for people on other machines, whose `index-pack` would not take the server's CPU;
    here they share its two cores, and at a normal priority they took most of them."""
    began = time.perf_counter()
    exception = None
    try:
        done = subprocess.run(
            ["nice", "-n", str(CLIENT_NICE), *argv],
            cwd=cwd, env=GIT_ENV, capture_output=True, text=True, timeout=GIT_TIMEOUT,
        )  # fmt: skip
        if done.returncode != 0:
            exception = RuntimeError(done.stderr.strip()[-500:] or f"exit {done.returncode}")
    except subprocess.TimeoutExpired as error:
        exception = error
    user.environment.events.request.fire(
        request_type=kind,
        name=name,
        response_time=(time.perf_counter() - began) * 1000,
        response_length=0,
        response=None,
        context={},
        exception=exception,
    )


def user_classes(deployment: Deployment, args, root: Path, source: Path) -> list[type[User]]:
    change = deployment.change
    readers = deployment.readers
    think = args.think

    class Browser(HttpUser):
        fixed_count = args.users
        host = deployment.base
        wait_time = between(think * 0.5, think * 1.5) if think > 0 else constant(0)

        def on_start(self):
            self.headers = {"Authorization": f"token {random.choice(readers)}"}

        def page(self, url: str, name: str):
            self.client.get(url, name=name, timeout=TIMEOUT)

        def call(self, url: str, name: str):
            self.client.get(url, name=f"api: {name}", timeout=TIMEOUT, headers=self.headers)

        @task(3)
        def home(self):
            self.page(f"/{OWNER}/{REPO}", "home")

        @task
        def small_home(self):
            self.page(f"/{OWNER}/{random.choice(SMALL)}", "home (small repository)")

        @task(2)
        def tree(self):
            self.page(f"/{OWNER}/{REPO}/tree/main/dulwich", "tree")

        @task(2)
        def blob(self):
            self.page(f"/{OWNER}/{REPO}/blob/main/dulwich/repo.py", "file")

        @task(2)
        def commits(self):
            self.page(f"/{OWNER}/{REPO}/commits/main", "commits")

        @task(2)
        def change_page(self):
            self.page(f"/{OWNER}/{REPO}/pull/{change}", "change")

        @task(2)
        def api_repo(self):
            self.call(f"/api/v3/repos/{OWNER}/{REPO}", "repo")

        @task(2)
        def api_pulls(self):
            self.call(f"/api/v3/repos/{OWNER}/{REPO}/pulls?state=all", "pulls")

    class Cloner(User):
        fixed_count = args.clones
        wait_time = constant(0)

        @task
        def clone(self):
            target = Path(tempfile.mkdtemp(prefix="clone-", dir=root))
            try:
                url = f"{deployment.base}/{OWNER}/{REPO}.git"
                argv = [*GIT, "clone", "--quiet", "--no-checkout", url, str(target / "c")]
                git_request(self, "clone", "git clone", argv, root)
            finally:
                shutil.rmtree(target, ignore_errors=True)

    class Pusher(User):
        fixed_count = args.pushes
        wait_time = constant(0)
        numbers = iter(range(1, 10_000))

        def on_start(self):
            self.number = next(Pusher.numbers)
            self.work = Path(tempfile.mkdtemp(prefix=f"push{self.number}-", dir=root))
            git("clone", "--quiet", "--shared", "--branch", "main", str(source), "w", cwd=self.work)
            self.work /= "w"
            self.url = remote(deployment.base, deployment.token, REPO)
            self.count = 0

        @task
        def push(self):
            self.count += 1
            note = self.work / "load" / f"pusher{self.number}.txt"
            note.parent.mkdir(exist_ok=True)
            note.write_text(f"push {self.count} by pusher {self.number}\n")
            git("add", ".", cwd=self.work)
            git("commit", "--quiet", "-m", f"load: push {self.count}", cwd=self.work)
            ref = f"HEAD:refs/heads/load/pusher{self.number}"
            git_request(self, "push", "git push", [*GIT, "push", "--quiet", self.url, ref],
                        self.work)  # fmt: skip

    return [cls for cls in (Browser, Cloner, Pusher) if cls.fixed_count > 0]


# --- measuring -----------------------------------------------------------------------------------


def tree_rss(processes: list[subprocess.Popen]) -> tuple[int, dict[str, int]]:
    """The RSS summed over the processes' trees, and by kind of process."""
    total, kinds = 0, {}
    for process in processes:
        try:
            parent = psutil.Process(process.pid)
            members = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in members:
            with suppress(psutil.NoSuchProcess):
                rss = member.memory_info().rss
                total += rss
                kind = process_kind(member.cmdline())
                kinds[kind] = kinds.get(kind, 0) + rss
    return total, kinds


# Markers in a command line, first match wins (the worker's FORGE_HOME path may hold "serve").
KINDS = (
    ("gunicorn", "gunicorn"),
    ("redis", "redis"),
    ("reconcile", "ci reconcile"),
    ("worker", "forge worker"),
    ("serve", "forge serve"),
)


def cpu_seconds(processes: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds used so far: by the server (its process trees, with the children they
    reaped, such as rq's work horses), by the git clients (this process's reaped children:
    the servers are reaped only at the end), by locust itself, and by the whole machine."""
    server, kinds = 0.0, {}
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            parent = psutil.Process(process.pid)
            for member in [parent, *parent.children(recursive=True)]:
                with suppress(psutil.NoSuchProcess):
                    times = member.cpu_times()
                    used = times.user + times.system + times.children_user
                    used += times.children_system
                    server += used
                    kind = f"server: {process_kind(member.cmdline())}"
                    kinds[kind] = kinds.get(kind, 0.0) + used
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    itself = resource.getrusage(resource.RUSAGE_SELF)
    machine = psutil.cpu_times()
    return {
        "server": server,
        **kinds,
        "git clients": children.ru_utime + children.ru_stime,
        "locust": itself.ru_utime + itself.ru_stime,
        "machine busy": sum(machine) - machine.idle - getattr(machine, "iowait", 0.0),
    }


def process_kind(argv: list[str]) -> str:
    line = " ".join(argv)
    for marker, kind in KINDS:
        if marker in line:
            return kind
    return Path(argv[0]).name if argv else "?"


def warm_up(deployment: Deployment) -> None:
    """Each page and API call a few times (both kinds of gunicorn worker, their caches)."""
    base, headers = deployment.base, {"Authorization": f"token {deployment.readers[0]}"}
    paths = [
        f"/{OWNER}/{REPO}", f"/{OWNER}/{REPO}/tree/main/dulwich",
        f"/{OWNER}/{REPO}/blob/main/dulwich/repo.py", f"/{OWNER}/{REPO}/commits/main",
        f"/{OWNER}/{REPO}/pull/{deployment.change}", f"/api/v3/repos/{OWNER}/{REPO}",
        f"/api/v3/repos/{OWNER}/{REPO}/pulls?state=all",
    ]  # fmt: skip
    for _ in range(4):
        for path in paths:
            answer = requests.get(f"{base}{path}", headers=headers, timeout=TIMEOUT)
            if answer.status_code != 200:
                raise SystemExit(f"warm-up: {path} answered {answer.status_code}")


def measure(deployment: Deployment, args, root: Path, source: Path) -> Results:
    results = Results()
    classes = user_classes(deployment, args, root, source)
    environment = Environment(user_classes=classes, host=deployment.base, stop_timeout=0)

    def on_request(request_type, name, response_time, exception=None, **_kwargs):
        if not results.measuring:
            return
        if request_type in ("clone", "push"):
            kind = request_type
        else:
            kind = "API" if name.startswith("api: ") else "pages"
        if exception is not None:
            results.failures[kind] += 1
            if len(results.errors) < 10:
                results.errors.append(f"{kind} {name}: {str(exception)[:300]}")
        else:
            results.times[kind].append(response_time)

    environment.events.request.add_listener(on_request)

    def sample():
        while True:
            total, kinds = tree_rss(deployment.processes)
            if total > results.peak_rss:
                results.peak_rss, results.peak_kinds = total, kinds
            gevent.sleep(0.5)

    sampler = gevent.spawn(sample)
    runner = environment.create_local_runner()
    total = sum(cls.fixed_count for cls in classes)
    try:
        runner.start(total, spawn_rate=min(total, 100))
        deadline = time.monotonic() + 120
        while runner.user_count < total and time.monotonic() < deadline:
            gevent.sleep(0.1)
        results.measuring = True
        cpu_before = cpu_seconds(deployment.processes)
        print(f"  {total} users started; measuring for {args.seconds} s", file=sys.stderr)
        gevent.sleep(args.seconds)
        results.measuring = False
        after = cpu_seconds(deployment.processes)
        results.cpu = {who: after[who] - cpu_before.get(who, 0.0) for who in after}
    finally:
        runner.quit()
        sampler.kill()
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def table(rows: list[tuple[str, Results]], args) -> None:
    print()
    print(f"{args.seconds:g} s: {args.users} browsing users (think {args.think} s), "
          f"{args.clones} cloners, {args.pushes} pushers; "
          f"locust {locust.__version__}, loopback")  # fmt: skip
    print()
    print("| deployment | class | requests | failures | p50 ms | p95 ms | req/s | server peak MB |")
    print("|------------|-------|----------|----------|--------|--------|-------|----------------|")
    for name, results in rows:
        peak = f"{results.peak_rss / 1e6:.0f}"
        for kind in CLASSES:
            times = results.times[kind]
            count = len(times) + results.failures[kind]
            p50 = f"{percentile(times, 0.5):.0f}" if times else "-"
            p95 = f"{percentile(times, 0.95):.0f}" if times else "-"
            rate = f"{count / args.seconds:.1f}"
            print(f"| {name:<10} | {kind:<5} | {count:>8} | {results.failures[kind]:>8} "
                  f"| {p50:>6} | {p95:>6} | {rate:>5} | {peak:>14} |")  # fmt: skip


def run_deployment(name: str, args, root: Path, source: Path) -> Results:
    home = root / name
    home.mkdir()
    with ExitStack() as stack:
        print(f"{name}: starting", file=sys.stderr)
        if name == "serve":
            base, auth, processes = start_serve(home, stack)
        else:
            base, auth, processes = start_scale(home, stack, args.redis_db)
        change, pushed = populate(base, auth["token"], home, source)
        deployment = Deployment(
            name, base, auth["token"], auth["readers"], processes, change, pushed
        )
        warm_up(deployment)
        results = measure(deployment, args, home, source)
        results.pushed = pushed
        print(f"{name}: stopping", file=sys.stderr)
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--clones", type=int, default=16)
    parser.add_argument("--pushes", type=int, default=8)
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a browsing user waits between requests (0: none)",
    )
    parser.add_argument("--only", choices=("serve", "scale"))
    parser.add_argument(
        "--redis-db",
        type=int,
        default=9,
        help="the database number of REDIS_URL's server used (and flushed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if not BUNDLE.exists():
        raise SystemExit(f"{BUNDLE} is missing (see ../shared/testdata/README.md)")

    names = [args.only] if args.only else ["serve", "scale"]
    if "scale" in names and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("scale: skipped, DATABASE_URL and REDIS_URL must both be set "
              "(e.g. postgresql+psycopg://... and redis://...)", file=sys.stderr)  # fmt: skip
        names.remove("scale")
    if not names:
        return 2

    root = Path(tempfile.mkdtemp(prefix="forge-bench-load-"))
    rows = []
    try:
        source = prepare_source(root)
        for name in names:
            rows.append((name, run_deployment(name, args, root, source)))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    table(rows, args)
    for name, results in rows:
        kinds = ", ".join(
            f"{kind} {rss / 1e6:.0f}" for kind, rss in sorted(results.peak_kinds.items())
        )
        print(f"\n{name}: {REPO} holds {results.pushed}; peak MB by process: {kinds}", end="")
        used = ", ".join(f"{who} {seconds:.0f}" for who, seconds in results.cpu.items())
        cores = psutil.cpu_count()
        print(f"\n{name}: CPU seconds while measuring ({cores} cores x {args.seconds:g} s = "
              f"{cores * args.seconds:.0f}): {used}", end="")  # fmt: skip
    print()
    failed = [error for _name, results in rows for error in results.errors]
    if any(sum(results.failures.values()) for _name, results in rows):
        print("\nfailures (first few):", *failed, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
