"""The outermost WSGI layer: a request id for every request, HTTP and git metrics, /metrics.

Outermost, so it sees git's smart HTTP (answered before Flask, forge.web.git_http) as well as
Flask's pages and API, times each response to its last byte (a clone streams for a while), and
reads the socket's own address before ProxyFix replaces it with X-Forwarded-For's.
"""

from __future__ import annotations

import time

from flask import request
from werkzeug.wsgi import ClosingIterator

from forge import logs, metrics
from forge.web.git_http import ROUTE as GIT_ROUTE

# git's requests, by the part of the URL naming the service: label and (for the POSTs that
# carry a pack) the operation.
GIT_SERVICES = {
    "info/refs": ("git:info-refs", None),
    "git-upload-pack": ("git:upload-pack", "fetch"),
    "git-receive-pack": ("git:receive-pack", "push"),
}
METRICS_PATH = "/metrics"


class Observe:
    def __init__(self, flask_app, wrapped):
        self.wrapped = wrapped
        self.settings = flask_app.extensions["forge.settings"]
        self.database = flask_app.extensions["forge.db"]
        self.redis = flask_app.extensions["forge.redis"]
        flask_app.teardown_request(_note_route)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = logs.new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["forge.request_id"] = request_id
        logs.request_id.set(request_id)
        answered: list[int] = []

        def start(status: str, headers: list, exc_info=None):
            answered[:] = [int(status.split(" ", 1)[0])]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        def done() -> None:
            self._count(environ, answered[0] if answered else 500, started)
            # The thread serves another request next; nothing it logs is this one's.
            logs.request_id.set(None)

        try:
            if environ.get("PATH_INFO") == METRICS_PATH:
                body = self._metrics(environ, start)
            else:
                body = self.wrapped(environ, start)
        except BaseException:
            done()
            raise
        return ClosingIterator(body, [done])

    def _metrics(self, environ, start_response):
        environ["forge.route"] = METRICS_PATH
        permitted = metrics.allowed(
            environ.get("REMOTE_ADDR", ""),
            forwarded="HTTP_X_FORWARDED_FOR" in environ,
            authorization=environ.get("HTTP_AUTHORIZATION", ""),
            token=self.settings.metrics_token,
        )
        if not permitted:
            # Not advertised: to anyone else it is a page that is not there.
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found\n"]
        body, content_type = metrics.render(self.database, self.redis)
        start_response(
            "200 OK",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    def _count(self, environ, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route, operation = self._route(environ)
        metrics.observe_http(route, environ.get("REQUEST_METHOD", ""), status, seconds)
        if operation is not None and environ.get("REQUEST_METHOD") == "POST":
            metrics.observe_git(operation, status, seconds)

    @staticmethod
    def _route(environ) -> tuple[str, str | None]:
        """The label of a request: the Flask URL rule that answered it, or git's service; never
        the raw path, so the number of series stays bounded."""
        if "forge.route" in environ:
            return environ["forge.route"], None
        match = GIT_ROUTE.match(environ.get("PATH_INFO", ""))
        if match is not None:
            return GIT_SERVICES[match.group("action")]
        return "unmatched", None


def _note_route(_error) -> None:
    """Flask's URL rule for the request, kept where the WSGI layer finds it once Flask is done
    (Flask forgets its request object when its context ends)."""
    rule = request.url_rule
    request.environ["forge.route"] = rule.rule if rule is not None else "unmatched"
