"""Log lines and the request id that ties them together.

Every HTTP request gets an id (`forge.web.observe` sets it); jobs queued while it is set carry
it in their rq meta (`forge.queue`), and the worker sets it again while it runs such a job
(`forge.worker`), so one id follows a push from its request into the webhook deliveries and CI
runs it caused. With FORGE_LOG_FORMAT=json, `configure` makes every log line one JSON object
(time, level, logger, message, request_id, exception) for log collectors to parse.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import sys
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")

# The id of the request (or of the request behind the job) this thread is working for.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forge_request_id", default=None
)

# An incoming X-Request-Id is kept only if it is short and harmless in a header and a log
# line: a proxy's id then matches forge's, and nobody can inject text through it.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id(incoming: str | None = None) -> str:
    """The incoming id if it is a short safe token, else a fresh random one."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return secrets.token_hex(16)


class RequestIdFilter(logging.Filter):
    """Gives every record the current request id (None outside a request or job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


_configured_handler: logging.Handler | None = None


def log_format(env: dict[str, str] | None = None) -> str:
    raw = (os.environ if env is None else env).get("FORGE_LOG_FORMAT", "").strip().lower()
    return raw if raw in LOG_FORMATS else "text"


def configure(process: str, fmt: str | None = None, level: int = logging.INFO) -> None:
    """Set up the root logger of this process (`process` names it in text lines: web, worker,
    ci-reconciler). rq's loggers propagate here and add no handler of their own once the root
    has one, so their lines take this format too."""
    global _configured_handler
    fmt = fmt or log_format()
    root = logging.getLogger()
    if _configured_handler is not None:
        root.removeHandler(_configured_handler)
    elif fmt == "text" and root.handlers:
        return  # as logging.basicConfig: whoever set up logging first (pytest, say) keeps it
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
        # Every line a JSON object: no other handler may print a line of its own format.
        for other in list(root.handlers):
            root.removeHandler(other)
    else:
        # The text format forge always had.
        handler.setFormatter(logging.Formatter(f"%(asctime)s {process} %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    _configured_handler = handler
