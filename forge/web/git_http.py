"""git over smart HTTP: /OWNER/REPO(.git)/info/refs, git-upload-pack, git-receive-pack.

A WSGI layer in front of the Flask app, because git's protocol streams in both directions:
responses are written as dulwich produces them (through WSGI's `write`), never held whole.
It authenticates (HTTP Basic: password, or a token as the password), finds the repository,
checks access, and hands the protocol to `forge.git.smart_http`; ref updates go through
`forge.repos.refs`, the same path as merges in the browser and the API.

A database that cannot be reached answers 503 with Retry-After and one line git shows as
`remote: ...`; a push whose pack is already on its way is refused in git's protocol instead
(each ref `[remote rejected]`, the reason on a `remote:` line), with nothing changed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy.exc import SQLAlchemyError

from forge.accounts import users as accounts
from forge.accounts.permissions import role_of
from forge.config import ConfigError
from forge.db import RETRY_AFTER, DatabaseUnavailable, unavailable_reason
from forge.errors import ForgeError, Throttled
from forge.gate.uploads import follow_uploads
from forge.git import fsck, smart_http
from forge.git import refs as git_refs
from forge.models import Repository, User
from forge.repos import refs as ref_service
from forge.repos.repositories import disk_path, find_repository
from forge.review import gerrit_query
from forge.review.pushes import receive_push

log = logging.getLogger(__name__)

# `/a/OWNER/NAME.git` is the same repository, with git made to sign in first (Gerrit's
# authenticated prefix): git sends credentials only when asked, and a public repository
# never asks, so this is how an owner fetches refs only they may see (a private change's).
ROUTE = re.compile(
    r"^/(?P<signed_in>a/)?(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?"
    r"/(?P<action>info/refs|git-upload-pack|git-receive-pack)$"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

UNAVAILABLE = "forge's database is unavailable; nothing was changed. Try again in a few seconds."
DATABASE_ERRORS = (SQLAlchemyError, DatabaseUnavailable)


class _Answer(Exception):
    def __init__(self, status: str, message: str, headers: list | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or []


class GitHTTP:
    """WSGI middleware: git's requests are answered here, everything else goes to Flask."""

    def __init__(self, flask_app, wrapped):
        self.flask_app = flask_app
        self.wrapped = wrapped
        self.settings = flask_app.extensions["forge.settings"]
        self.database = flask_app.extensions["forge.db"]
        try:  # read once, so a mistyped FORGE_FSCK stops the start rather than every push
            self.fsck_site = fsck.parse_overrides(self.settings.fsck)
        except ValueError as exc:
            raise ConfigError(f"FORGE_FSCK: {exc}") from None

    def __call__(self, environ, start_response):
        match = ROUTE.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self.wrapped(environ, start_response)
        try:
            return self._serve(environ, start_response, **match.groupdict())
        except _Answer as answer:
            body = (answer.message.rstrip("\n") + "\n").encode()
            headers = [("Content-Type", "text/plain; charset=utf-8"), *answer.headers]
            headers.append(("Content-Length", str(len(body))))
            start_response(answer.status, headers)
            return [body]

    def _serve(self, environ, start_response, owner: str, name: str, action: str, signed_in=None):
        method = environ["REQUEST_METHOD"]
        if action == "info/refs":
            if method not in ("GET", "HEAD"):
                raise _Answer("405 Method Not Allowed", "use GET for info/refs")
            service = parse_qs(environ.get("QUERY_STRING", "")).get("service", [""])[0]
            if service not in smart_http.SERVICES:
                raise _Answer(
                    "403 Forbidden",
                    "forge speaks git's smart HTTP protocol only; use git 1.6.6 or newer",
                )
        else:
            if method != "POST":
                raise _Answer("405 Method Not Allowed", f"use POST for {action}")
            service = action
            expected = f"application/x-{service}-request"
            if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != expected:
                raise _Answer("415 Unsupported Media Type", f"expected Content-Type {expected}")
        writing = service == "git-receive-pack"
        if (writing or signed_in) and not environ.get("HTTP_AUTHORIZATION"):
            # Every push starts here (git sends credentials only once asked), and the answer
            # is the same whatever the repository: no need to look anything up.
            raise _Answer("401 Unauthorized", "Authentication required.", _challenge())

        refusal = None  # why every ref of this push is refused without a look
        policy = None
        hidden: list[str] = []  # refs of private changes this user may not see
        try:
            with self.database.session() as session:
                user = self._authenticate(session, environ)
                # Readers may start a push too (refs/for/*); the hooks judge each ref.
                repository, path = self._repository(session, owner, name, user, writing)
                repository_id, pusher_id = repository.id, (user.id if user else None)
                policy = fsck.FsckPolicy(self.fsck_site, fsck.stored_overrides(repository.fsck))
                hidden = gerrit_query.hidden_change_refs(session, user, repository)
        except DATABASE_ERRORS as exc:
            _unavailable(exc, environ)
            if not (writing and action == "git-receive-pack"):
                raise _Answer(
                    "503 Service Unavailable", UNAVAILABLE, [("Retry-After", str(RETRY_AFTER))]
                ) from None
            # The pack is on its way already (git asked info/refs before the database went):
            # git shows a refusal in its protocol as `remote:` lines, a 503 here only as
            # "RPC failed".
            refusal = UNAVAILABLE

        body = smart_http.RequestBody(environ, self.settings.max_body_bytes)
        git = None
        if refusal is None:
            git = smart_http.open_repository(path)
            if git is None:
                raise _Answer("404 Not Found", "Repository not found.")
            smart_http.hide_refs(git, hidden)
        kind = "advertisement" if action == "info/refs" else "result"
        write_response = start_response(
            "200 OK",
            [
                ("Content-Type", f"application/x-{service}-{kind}"),
                ("Cache-Control", "no-cache, max-age=0, must-revalidate"),
                ("Expires", "Fri, 01 Jan 1980 00:00:00 GMT"),
                ("Pragma", "no-cache"),
            ],
        )
        written = False

        def write(data: bytes):
            nonlocal written
            written = written or bool(data)
            return write_response(data)

        try:
            if refusal is not None:
                smart_http.refuse_push(body, write, refusal)
            elif action == "info/refs":
                smart_http.advertise_refs(git, service, write)
            elif writing:
                apply = self._ref_applier(git, repository_id, pusher_id, environ)
                smart_http.receive_pack(
                    git, body, write, apply, self.settings.max_object_bytes, policy
                )
            else:
                smart_http.upload_pack(git, body, write)
        except smart_http.CLIENT_GONE:
            log.info("git client hung up during %s of %s/%s", service, owner, name)
        except smart_http.PROTOCOL_ERRORS as exc:
            log.info("refused %s of %s/%s: %s", service, owner, name, exc)
            if not written:
                # Say why in git's own words (`remote error: ...`) rather than answering an
                # empty 200 that leaves the client guessing.
                smart_http.write_error(write, str(exc))
        finally:
            if git is not None:
                git.close()
        return []

    # --- who and what ---------------------------------------------------------------------

    def _authenticate(self, session, environ) -> User | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise _Answer("401 Unauthorized", "use HTTP Basic authentication", _challenge())
        try:
            name, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _Answer("400 Bad Request", "malformed Authorization header") from None
        try:
            credentials = accounts.check_credentials(
                session,
                name,
                password,
                client_ip=environ.get("REMOTE_ADDR", "unknown"),
                limits=self.settings.login_limits,
                accept_tokens=True,
                connection=self.flask_app.extensions["forge.redis"],
            )
        except Throttled as exc:
            raise _Answer(
                "429 Too Many Requests", exc.message, [("Retry-After", str(exc.retry_after))]
            ) from None
        except (accounts.AwaitingApproval, accounts.TwoFactorRequired) as exc:
            raise _Answer("403 Forbidden", exc.message) from None
        if credentials is None:
            raise _Answer("401 Unauthorized", "Invalid username or token.", _challenge())
        if not credentials.allows("repo"):
            # A token without the `repo` scope acts for nobody in particular here.
            return None
        return credentials.user

    def _repository(self, session, owner: str, name: str, user: User | None, writing: bool):
        repository = None
        if NAME.match(owner) and NAME.match(name):
            repository = find_repository(session, owner, name)
        role = role_of(session, user, repository) if repository is not None else None
        if role is None or (writing and user is None):
            if user is None:
                # Anonymous: ask for credentials, saying nothing about whether it exists.
                raise _Answer("401 Unauthorized", "Authentication required.", _challenge())
            raise _Answer("404 Not Found", "Repository not found.")
        path = disk_path(self.settings.repos_dir, repository)
        root = os.path.realpath(self.settings.repos_dir)
        if os.path.islink(path) or not os.path.realpath(path).startswith(root + os.sep):
            log.warning("refusing repository path outside FORGE_HOME: %s", path)
            raise _Answer("404 Not Found", "Repository not found.")
        return repository, Path(path)

    def _ref_applier(self, git, repository_id: int, pusher_id: int | None, environ):
        config = ref_service.RefChangeSettings.build(
            self.settings, self.flask_app.extensions["forge.redis"], _base_url(environ)
        )
        database = self.database

        def apply(updates, options, say, incoming):
            # The ref lock stays held until the push's rows are committed or its refs went
            # back: whoever takes it (`forge backup`) never sees the refs of an unsettled push.
            with git_refs.locked_refs(git):
                try:
                    with database.session() as session:
                        repository = session.get(Repository, repository_id)
                        pusher = session.get(User, pusher_id) if pusher_id else None
                        try:
                            uploads = receive_push(
                                session,
                                repository,
                                git,
                                pusher,
                                updates,
                                config,
                                say,
                                options,
                                incoming,
                            )
                            # l= votes and submit: the gate's, above forge.review.
                            follow_uploads(session, pusher, uploads, config, say)
                        except ForgeError as exc:  # refused, stale, or naming what does not exist
                            raise smart_http.PushRefused(exc.message) from None
                except DATABASE_ERRORS as exc:
                    _unavailable(exc, environ)
                    # Refs moved before the commit failed would be a push forge never recorded
                    # (no checks kept, no events): put them back, so "rejected" is the truth.
                    git_refs.undo_updates(git, updates)
                    raise smart_http.PushRefused(UNAVAILABLE) from None

        return apply


def _unavailable(exc: Exception, environ) -> None:
    """Log a database outage once, as a warning; any other database error is re-raised."""
    reason = unavailable_reason(exc)
    if reason is None:
        raise exc
    log.warning(
        "database unavailable, %s %s refused: %s",
        environ.get("REQUEST_METHOD"),
        environ.get("PATH_INFO"),
        reason,
    )


def _challenge() -> list[tuple[str, str]]:
    return [("WWW-Authenticate", 'Basic realm="forge", charset="UTF-8"')]


def _base_url(environ) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    return f"{scheme}://{host}"
