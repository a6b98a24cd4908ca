"""/metrics and JSON logs: real HTTP to the live server, real git pushes and clones, a real rq
worker; the request id of a request follows the jobs it queued into the worker's log lines."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys

import pytest
import redis
import requests
from conftest import free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from support.webhooks import drain, loopback_settings

from forge import metrics


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def scrape(base: str, **headers) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = requests.get(f"{base}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_git_jobs_queues_and_deliveries(
    live_server, hosted_repo, git, tmp_path, settings, github, receiver
):
    info = hosted_repo()
    # Counters live in the process (the tests' app is in-process): compare with before.
    before = scrape(live_server)

    assert requests.get(f"{live_server}/", timeout=30).status_code == 200
    assert requests.get(f"{live_server}/alice/project", timeout=30).status_code == 200
    missing = requests.get(f"{live_server}/no/such/thing/here", timeout=30)
    assert missing.status_code == 404
    repo = github(info.token).get_repo("alice/project")
    repo.create_hook("web", {"url": receiver.url, "content_type": "json"}, events=["push"])
    work = git.init(tmp_path / "work")
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    git.run("clone", "-q", info.url, str(tmp_path / "clone"))

    # The hook's creation ping and the push's delivery wait on the hooks queue (no worker).
    after = scrape(live_server)

    def counted(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests_total = "forge_http_requests_total"
    assert counted(requests_total, route="/", method="GET", status="200") == 1
    assert counted(requests_total, route="/<owner>/<name>", method="GET", status="200") == 1
    assert counted(requests_total, route="unmatched", method="GET", status="404") == 1
    # git's requests go by service, never by repository path.
    assert counted(requests_total, route="git:receive-pack", method="POST", status="200") == 1
    assert counted(requests_total, route="git:info-refs", method="GET", status="200") >= 2
    assert not any("/alice/project.git" in dict(labels).get("route", "") for _, labels in after)
    assert counted("forge_git_operations_total", operation="push", result="ok") == 1
    assert counted("forge_git_operations_total", operation="fetch", result="ok") == 1
    assert counted("forge_git_operation_duration_seconds_count", operation="push") == 1
    assert counted("forge_http_request_duration_seconds_count", route="/") == 1
    assert value(after, "forge_queue_depth", queue="hooks") == 2
    assert value(after, "forge_queue_depth", queue="ci") == 0
    assert value(after, "forge_webhook_deliveries", status="pending") == 2
    assert value(after, "forge_webhook_deliveries", status="delivered") == 0

    # A worker runs them (in this process here): delivered, timed, the queue empty.
    receiver.answers = [500]  # the first try fails and is retried
    drain(settings, lambda: len(receiver.requests) >= 3)
    done = wait_for(
        lambda: (
            (s := scrape(live_server))
            and value(s, "forge_webhook_deliveries", status="delivered") == 2
            and s
        ),
        what="both deliveries delivered",
    )
    assert value(done, "forge_queue_depth", queue="hooks") == 0
    assert value(done, "forge_webhook_deliveries", status="pending") == 0
    jobs = {"queue": "hooks", "function": "forge.jobs.deliver_webhook", "outcome": "finished"}
    ran = value(done, "forge_job_duration_seconds_count", **jobs) - value(
        before, "forge_job_duration_seconds_count", **jobs
    )
    # The ping, the push's first try (answered 500: the job ends, a retry is queued) and the
    # retry.
    assert ran == 3


def test_metrics_token_opens_metrics_to_callers_behind_a_proxy(live_server, app):
    """The tests can only call from loopback; a request that came through a reverse proxy
    (X-Forwarded-For) is not trusted as local, which stands in for an outside caller here.
    `test_who_may_read_metrics` covers the address check itself, on the function that decides."""
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    url = f"{live_server}/metrics"
    assert requests.get(url, headers=proxied, timeout=30).status_code == 404
    token = secrets.token_hex(16)
    app.extensions["forge.settings"].metrics_token = token
    good = requests.get(url, headers={**proxied, "Authorization": f"Bearer {token}"}, timeout=30)
    assert good.status_code == 200 and "forge_queue_depth" in good.text
    wrong = {"Authorization": f"Bearer {token}x"}
    assert requests.get(url, headers={**proxied, **wrong}, timeout=30).status_code == 404
    assert requests.get(url, headers=proxied, timeout=30).status_code == 404
    # From loopback directly, as Prometheus on the same machine scrapes.
    assert requests.get(url, timeout=30).status_code == 200


def test_who_may_read_metrics():
    for local in ("127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"):
        assert metrics.allowed(local, forwarded=False, authorization="", token="")
    for outside in ("10.0.0.7", "192.168.1.2", "203.0.113.7", "2001:db8::1", "", "junk"):
        assert not metrics.allowed(outside, forwarded=False, authorization="", token="")
    # A proxy on this machine makes every outside caller loopback: forwarded is not local.
    assert not metrics.allowed("127.0.0.1", forwarded=True, authorization="", token="")
    # The token opens it from anywhere; a wrong one, no token configured, or another scheme
    # does not.
    assert metrics.allowed("203.0.113.7", True, "Bearer s3cret-token", "s3cret-token")
    assert metrics.allowed("203.0.113.7", False, "bearer s3cret-token", "s3cret-token")
    assert not metrics.allowed("203.0.113.7", False, "Bearer nope", "s3cret-token")
    assert not metrics.allowed("203.0.113.7", False, "Basic s3cret-token", "s3cret-token")
    assert not metrics.allowed("203.0.113.7", False, "Bearer ", "")
    assert not metrics.allowed("203.0.113.7", False, "Bearer ünïcode", "s3cret-token")


def test_requests_get_an_id_that_follows_their_jobs_into_json_worker_logs(
    live_server, hosted_repo, receiver, settings, tmp_path
):
    info = hosted_repo()
    # A safe incoming id is kept (a proxy's id then matches); an unsafe one is replaced.
    kept = requests.get(f"{live_server}/", headers={"X-Request-Id": "edge-1234abcd"}, timeout=30)
    assert kept.headers["X-Request-Id"] == "edge-1234abcd"
    unsafe = requests.get(f"{live_server}/", headers={"X-Request-Id": "a\tb" * 3}, timeout=30)
    assert unsafe.headers["X-Request-Id"] != "a\tb" * 3
    assert len(unsafe.headers["X-Request-Id"]) == 32
    fresh = requests.get(f"{live_server}/", timeout=30).headers["X-Request-Id"]
    assert fresh != unsafe.headers["X-Request-Id"]

    # Creating a hook queues its ping: that job carries the request's id.
    created = requests.post(
        f"{live_server}/api/v3/repos/alice/project/hooks",
        json={"config": {"url": receiver.url, "content_type": "json"}, "events": ["push"]},
        headers={"Authorization": f"token {info.token}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    request_id = created.headers["X-Request-Id"]

    env = {**settings.environment(), "REDIS_URL": settings.redis_url, "FORGE_LOG_FORMAT": "json"}
    worker = subprocess.run(
        [sys.executable, "-m", "forge.cli", "--home", str(settings.home), "worker", "--burst",
         "--queues", "hooks"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    assert wait_for(lambda: receiver.events("ping"), what="the ping")
    lines = [line for line in (worker.stdout + worker.stderr).splitlines() if line.strip()]
    assert lines, "the worker logged nothing"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message", "request_id"} <= entry.keys()
    mine = [e for e in entries if e["request_id"] == request_id]
    assert mine, f"no worker line carries {request_id}: {lines}"
    assert any(e["logger"].startswith("rq.") for e in mine)


def test_forge_serve_adds_up_metrics_of_all_its_processes(tmp_path, database_url):
    """Under `forge serve` two gunicorn workers answer requests and a worker process runs the
    jobs: every scrape, whichever web worker answers it, counts all of them."""
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(DATABASE_URL=database_url, FORGE_WORKERS="2")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "forge.cli", "--home", str(home), "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy():
            try:
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or still starting
                return server.poll() is not None

        wait_for(healthy, timeout=60, what="forge serve")
        assert server.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
        before = scrape(base)
        # A page the start-up probe never asked for: a probe that timed out on a busy machine
        # may still be answered, and counted, after `before`.
        for _ in range(20):  # spread over both web workers by the kernel
            assert requests.get(f"{base}/login", timeout=10).status_code == 200
        connection = redis.Redis(unix_socket_path=str(home / "redis" / "redis.sock"))
        job = Queue("default", connection=connection).enqueue("forge.jobs.ping", "hello")
        wait_for(lambda: job.get_status(refresh=True) == "finished", what="the ping job")
        connection.close()
        login = {"route": "/login", "method": "GET", "status": "200"}
        # A request is counted once its answer has gone out, which the client may see first.
        wait_for(
            lambda: (
                value(scrape(base), "forge_http_requests_total", **login)
                - value(before, "forge_http_requests_total", **login)
                == 20
            ),
            what="the 20 requests counted",
        )
        ping = {"queue": "default", "function": "forge.jobs.ping", "outcome": "finished"}
        pids = set()
        for _ in range(6):
            samples = scrape(base)
            counted = value(samples, "forge_http_requests_total", **login)
            assert counted - value(before, "forge_http_requests_total", **login) == 20
            # The worker observes the job once rq has marked it finished: poll for it.
            if value(samples, "forge_job_duration_seconds_count", **ping) != 1:
                samples = wait_for(
                    lambda: (
                        (s := scrape(base))
                        and value(s, "forge_job_duration_seconds_count", **ping) == 1
                        and s
                    ),
                    what="the job's duration",
                )
            pids |= {p.name.split("_")[-1] for p in (home / "metrics").iterdir()}
        # Files of several processes (web workers, job workers) are there, and added up.
        assert len(pids) >= 2, pids
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
