"""Metrics in Prometheus' text format: what each process counts, and what is read at scrape time.

Counted where it happens: HTTP requests by route and status (forge.web.observe), git fetches
and pushes with their durations (ditto), job durations by function and outcome (forge.worker).
Under `forge serve` the web workers and job workers are separate processes, so
PROMETHEUS_MULTIPROC_DIR (set by `forge serve` to $FORGE_HOME/metrics, wiped at its start)
puts prometheus_client in its multiprocess mode: each process writes its numbers to files
there and a scrape, in any web worker, adds them all up. It must be in the environment before
prometheus_client is first imported, which is why only this module imports it. One process
alone (the tests' in-process app) uses the default registry.

Read at scrape time, because they live in shared state and so are true across processes and
machines: queue depths from Redis, webhook delivery results from the database.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from forge.models import WebhookDelivery
from forge.queue import depths

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
if MULTIPROCESS_DIR:
    # A process started by hand with the variable set finds the directory there.
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

HTTP_REQUESTS = Counter(
    "forge_http_requests",
    "HTTP requests answered, by route (the URL rule, or git's service) and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "forge_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route.",
    ["route"],
)
GIT_OPERATIONS = Counter(
    "forge_git_operations",
    "git fetches (and clones) and pushes over HTTP, by result (ok, client_error, server_error).",
    ["operation", "result"],
)
# Git transfers last from milliseconds to many minutes.
GIT_SECONDS = Histogram(
    "forge_git_operation_duration_seconds",
    "Duration of git fetches and pushes over HTTP, pack transfer included.",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf")),
)
JOB_SECONDS = Histogram(
    "forge_job_duration_seconds",
    "Duration of background jobs, by queue, job function and outcome (finished, failed, ...).",
    ["queue", "function", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf")),
)


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def observe_git(operation: str, status: int, seconds: float) -> None:
    result = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
    GIT_OPERATIONS.labels(operation, result).inc()
    GIT_SECONDS.labels(operation).observe(seconds)


def observe_job(queue: str, function: str, outcome: str, seconds: float) -> None:
    JOB_SECONDS.labels(queue, function, outcome).observe(seconds)


class SharedState:
    """A collector that reads, at scrape time, what no single process counts."""

    def __init__(self, database, connection):
        self.database, self.connection = database, connection

    def collect(self):
        queue_depth = GaugeMetricFamily(
            "forge_queue_depth", "Jobs waiting on each queue (from Redis).", labels=["queue"]
        )
        try:
            for name, count in depths(self.connection).items():
                queue_depth.add_metric([name], count)
            yield queue_depth
        except Exception as exc:  # Redis away: the other metrics are still worth having
            log.warning("metrics: cannot read queue depths: %s", exc)
        deliveries = GaugeMetricFamily(
            "forge_webhook_deliveries",
            "Webhook deliveries on record, by status (pending, delivered, failed).",
            labels=["status"],
        )
        try:
            with self.database.session() as session:
                rows = session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                ).all()
            counts = {"pending": 0, "delivered": 0, "failed": 0, **dict(rows)}
            for status, count in sorted(counts.items()):
                deliveries.add_metric([status], count)
            yield deliveries
        except Exception as exc:  # the database away: likewise
            log.warning("metrics: cannot count webhook deliveries: %s", exc)


def render(database, connection) -> tuple[bytes, str]:
    """The page /metrics answers: (body, content type)."""
    shared = CollectorRegistry(auto_describe=False)
    shared.register(SharedState(database, connection))
    if MULTIPROCESS_DIR:
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(shared), CONTENT_TYPE_LATEST


def allowed(remote_addr: str, forwarded: bool, authorization: str, token: str) -> bool:
    """May this caller read /metrics? With FORGE_METRICS_TOKEN set, a caller bearing it may;
    otherwise only one on this machine: the socket's address (never X-Forwarded-For) is
    loopback, and the request did not come through a reverse proxy (one carries
    X-Forwarded-For), since a proxy on this machine makes every outside request loopback."""
    if token:
        scheme, _, given = authorization.partition(" ")
        presented = given.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(presented, token.encode()):
            return True
    if forwarded:
        return False
    try:
        address = ipaddress.ip_address(remote_addr.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
