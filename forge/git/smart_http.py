"""git's smart HTTP protocol (v0), served with dulwich's protocol handlers.

This module knows git, not forge: the caller authenticates, finds the repository on disk and
passes a callback that decides about and applies ref updates (hooks, protection, records).

upload-pack (clone, fetch) is dulwich's own handler. receive-pack (push) is ours, because a
push must be checked before any ref moves: the pack is received into a quarantine object
directory, every new object is checked (see `forge.git.integrity`), only then are the objects
moved into the repository and the ref updates handed to the callback.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dulwich.errors import (
    ApplyDeltaError,
    ChecksumMismatch,
    FileFormatException,
    GitProtocolError,
    HangupException,
    NotGitRepository,
    ObjectMissing,
)
from dulwich.object_store import DiskObjectStore, OverlayObjectStore
from dulwich.pack import UnresolvedDeltas
from dulwich.protocol import (
    CAPABILITY_ATOMIC,
    CAPABILITY_DELETE_REFS,
    CAPABILITY_OFS_DELTA,
    CAPABILITY_PUSH_OPTIONS,
    CAPABILITY_QUIET,
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    SIDE_BAND_CHANNEL_PROGRESS,
    ZERO_SHA,
    Protocol,
    ReceivableProtocol,
    extract_capabilities,
    format_ref_line,
    symref_capabilities,
)
from dulwich.repo import Repo
from dulwich.server import Backend, UploadPackHandler

from forge.git import fetch, packs
from forge.git.fsck import FsckPolicy
from forge.git.integrity import IntegrityError, ObjectChecker, format_size
from forge.git.quarantine import receive_checked
from forge.git.refs import RefUpdate, check_ref_name, recent_tips
from forge.git.storage import open_repo

SERVICES = ("git-upload-pack", "git-receive-pack")

fetch.install()


class BodyTooLarge(Exception):
    pass


# What the web layer catches while a conversation with git is under way.
CLIENT_GONE = (HangupException, ConnectionError, BrokenPipeError)
PROTOCOL_ERRORS = (GitProtocolError, BodyTooLarge)


def open_repository(path) -> Repo | None:
    """The bare repository at `path`, or None when there is none."""
    try:
        return open_repo(path)
    except NotGitRepository:
        return None


class PushRefused(Exception):
    """The callback refused the ref updates; the message is shown to the pusher."""


# The callback: given the parsed ref updates, push options, a function that prints a
# `remote:` line and the pushed objects (None when the push only deletes), check and apply
# them or raise PushRefused.
ApplyUpdates = Callable[
    [list[RefUpdate], dict[str, str], Callable[[str], None], "Incoming | None"], None
]


class RequestBody:
    """The request body as a file: dechunked by the server, gunzipped here, size-capped."""

    def __init__(self, environ: dict, limit: int):
        self.stream = environ["wsgi.input"]
        self.remaining = None
        if not environ.get("wsgi.input_terminated"):
            self.remaining = int(environ.get("CONTENT_LENGTH") or 0)
        encoding = environ.get("HTTP_CONTENT_ENCODING", "").lower()
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in encoding else None
        self.limit = limit
        self.read_bytes = 0  # bytes that arrived (inflated), buffered or handed out
        self.taken = 0  # bytes handed out to the reader
        # Consumed from the front with `del`, which bytearray does in place: slicing a bytes
        # buffer copied the rest of it on every pkt-line read (64 kB per 50-byte have line).
        self.buffer = bytearray()
        self.eof = False

    def _raw(self, size: int) -> bytes:
        if self.remaining is not None:
            size = min(size, self.remaining)
            if size <= 0:
                return b""
        data = self.stream.read(size)
        if self.remaining is not None:
            self.remaining -= len(data)
        return data

    def _fill(self, want: int) -> None:
        # Reading stops once more than the limit has arrived; `_take` refuses the byte past
        # it. The limit is not enforced here, when a chunk arrives: the first 64 kB chunk
        # holds the push's commands too, and refusing before they are read meant the pusher
        # got a bare `ERR` instead of a report on each ref naming the limit.
        while len(self.buffer) < want and not self.eof and self.read_bytes <= self.limit:
            # Input the inflater has not consumed yet comes first: inflating is capped at
            # 64 kB a step, so a small "gzip bomb" never expands all at once in memory.
            raw = self.inflater.unconsumed_tail if self.inflater is not None else b""
            raw = raw or self._raw(65536)
            if not raw:
                self.eof = True
                if self.inflater is not None:
                    try:
                        self.buffer += self.inflater.flush()
                    except zlib.error as exc:
                        raise GitProtocolError(
                            f"the request body is not valid gzip: {exc}"
                        ) from None
                break
            try:
                chunk = self.inflater.decompress(raw, 65536) if self.inflater is not None else raw
            except zlib.error as exc:
                # A body that says gzip and is not: a protocol error the web layer answers
                # with an ERR line, not an exception out of the request (found by fuzzing).
                raise GitProtocolError(f"the request body is not valid gzip: {exc}") from None
            self.read_bytes += len(chunk)
            self.buffer += chunk

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.taken += len(data)
        if self.taken > self.limit:
            raise BodyTooLarge(f"the request is larger than the limit of {format_size(self.limit)}")
        return data

    def unread(self, data: bytes) -> None:
        """Put back bytes already read, to be read again first."""
        self.buffer[:0] = data
        self.taken -= len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            self._fill(1 << 62)
            return self._take(len(self.buffer))
        self._fill(size)
        return self._take(size)

    def recv(self, size: int) -> bytes:
        if not self.buffer:
            self._fill(1)
        return self._take(size)


class BodyProtocol(ReceivableProtocol):
    """dulwich's protocol over the request body, reading an empty pkt-line ("0004") as
    empty: dulwich asserts a read is of at least one byte, and an AssertionError came out
    of the request (found by fuzzing)."""

    def read(self, size: int) -> bytes:
        return super().read(size) if size > 0 else b""


class _OneRepoBackend(Backend):
    def __init__(self, repo: Repo):
        self.repo = repo

    def open_repository(self, path):
        return self.repo


def advertise_refs(repo: Repo, service: str, write: Callable[[bytes], object]) -> None:
    """The answer to GET info/refs?service=...: a service line, then the refs."""
    proto = Protocol(lambda n: b"", write)
    proto.write_pkt_line(f"# service={service}\n".encode())
    proto.write_pkt_line(None)
    if service == "git-upload-pack":
        handler = UploadPackHandler(
            _OneRepoBackend(repo), ["/"], proto, stateless_rpc=True, advertise_refs=True
        )
        handler.handle()
        return
    refs = sorted(repo.get_refs().items())
    if not refs:
        refs = [(b"capabilities^{}", ZERO_SHA)]
    symrefs = sorted(repo.refs.get_symrefs().items())
    proto.write_pkt_line(
        format_ref_line(refs[0][0], refs[0][1], RECEIVE_CAPABILITIES + symref_capabilities(symrefs))
    )
    for name, sha in refs[1:]:
        proto.write_pkt_line(format_ref_line(name, sha))
    proto.write_pkt_line(None)


def write_error(write: Callable[[bytes], object], message: str) -> None:
    """An `ERR` pkt-line: git shows it as `remote error: <message>` and stops."""
    Protocol(lambda n: b"", write).write_pkt_line(b"ERR " + message.encode()[:900] + b"\n")


def upload_pack(repo: Repo, body: RequestBody, write: Callable[[bytes], object]) -> None:
    """Answer a fetch or clone: negotiate, then stream the pack.

    A plain full clone is answered by streaming the stored packs, as they are or merged on the
    fly (see `forge.git.packs`); everything else goes through dulwich's handler.
    """
    body.unread(fetch.read_bounded_negotiation(body))
    request = packs.read_negotiation(body)
    if request is not None:
        # A clone streamed from the stored packs would carry what hidden refs point at too.
        if not getattr(repo, "forge_hides_refs", False):
            stored = packs.stored_objects_for(repo, request, _recent_tips_of)
            if stored is not None:
                packs.send_stored(stored, request, write)
                return
        body.unread(request.raw)
    _with_recent_tips(repo)
    proto = BodyProtocol(body.recv, write)
    handler = fetch.ForgeUploadPackHandler(_OneRepoBackend(repo), ["/"], proto, stateless_rpc=True)
    handler.handle()


def hide_refs(repo: Repo, prefixes: list[str]) -> None:
    """Show git none of the refs under `prefixes` (a private change's refs, to those who may
    not see it): neither advertised nor wantable, as git's `uploadpack.hideRefs`."""
    if not prefixes:
        return
    hidden = tuple(prefix.encode() for prefix in prefixes)
    current = repo.get_refs

    def get_refs():
        return {name: sha for name, sha in current().items() if not name.startswith(hidden)}

    repo.get_refs = get_refs  # this request's object only (opened per request)
    repo.forge_hides_refs = True


def _recent_tips_of(repo: Repo) -> set[bytes]:
    return {sha.encode() for sha in recent_tips(repo)}


def _with_recent_tips(repo: Repo) -> None:
    """Let this request's wants name a tip a push replaced since the client read the refs
    (see `refs.recent_tips`): upload-pack accepts a want only if some ref holds it, so they
    join this repository object's refs, under names no client is ever shown (a stateless
    upload-pack answers wants without advertising refs).

    The recent tips are read after the refs, each time: a push notes the tip it replaces
    before it moves the ref, so a tip missing from the refs read is then among the recent
    ones. Read before the refs, a push landing between the two reads left the client's want
    in neither (the rare 'Client wants invalid object' of clones racing pushes)."""
    current = repo.get_refs

    def get_refs():
        refs = current()
        tips = sorted(_recent_tips_of(repo) - set(refs.values()))
        return {**refs, **{b"refs/forge-recent/%d" % i: sha for i, sha in enumerate(tips)}}

    repo.get_refs = get_refs  # this request's object only (opened per request)


RECEIVE_CAPABILITIES = [
    CAPABILITY_REPORT_STATUS,
    CAPABILITY_DELETE_REFS,
    CAPABILITY_QUIET,
    CAPABILITY_ATOMIC,
    CAPABILITY_OFS_DELTA,
    CAPABILITY_SIDE_BAND_64K,
    CAPABILITY_PUSH_OPTIONS,
    b"object-format=sha1",
    b"agent=forge",
]


@dataclass
class _Session:
    proto: ReceivableProtocol
    capabilities: set[bytes]

    @property
    def sideband(self) -> bool:
        return CAPABILITY_SIDE_BAND_64K in self.capabilities

    def say(self, message: str) -> None:
        """A line the pusher sees as `remote: ...`."""
        if self.sideband:
            for line in message.splitlines() or [""]:
                self.proto.write_sideband(SIDE_BAND_CHANNEL_PROGRESS, line.encode() + b"\n")

    def report(self, unpack: str, statuses: list[tuple[bytes, str | None]]) -> None:
        if CAPABILITY_REPORT_STATUS not in self.capabilities:
            return
        lines = [f"unpack {unpack}\n".encode()]
        for ref, error in statuses:
            lines.append(
                b"ok " + ref + b"\n"
                if error is None
                else b"ng " + ref + b" " + error.encode() + b"\n"
            )
        if self.sideband:
            inner = Protocol(
                lambda n: b"", lambda d: self.proto.write_sideband(SIDE_BAND_CHANNEL_DATA, d)
            )
            for line in lines:
                inner.write_pkt_line(line)
            inner.write_pkt_line(None)
            self.proto.write_pkt_line(None)
        else:
            for line in lines:
                self.proto.write_pkt_line(line)
            self.proto.write_pkt_line(None)


def receive_pack(
    repo: Repo,
    body: RequestBody,
    write: Callable[[bytes], object],
    apply_updates: ApplyUpdates,
    max_object_bytes: int,
    fsck: FsckPolicy | None = None,
) -> None:
    """Answer a push: read commands and pack, check everything, then let the callback apply.

    `fsck` weighs each problem the object checks find (`forge.git.fsck`); those it lets
    through are shown to the pusher as `remote: warning:` lines, as git shows them."""
    proto = BodyProtocol(body.recv, write)
    commands, capabilities = _read_commands(proto)
    if commands is None:
        return
    session = _Session(proto, capabilities)
    options = _read_push_options(proto) if CAPABILITY_PUSH_OPTIONS in capabilities else {}

    def refuse_all(unpack: str, reason: str, message: str | None = None):
        if message:
            session.say(message)
        session.report(unpack, [(u.ref.encode(), reason) for u in commands])

    bad = _bad_ref_names(commands)
    if bad:
        # Still read the pack so the client sees our answer rather than a broken pipe.
        _drain(body)
        refuse_all("ok", "invalid ref name", f"error: {bad}")
        return

    # The quarantine directory goes away however this ends: refused, accepted or failed.
    quarantine = None
    try:
        if any(not u.deleted for u in commands):
            try:
                checker = ObjectChecker(max_object_bytes, fsck)
                objects_dir = Path(repo.object_store.path)
                quarantine = receive_checked(
                    objects_dir, body.read, body.recv, checker, session.say
                )
                tips = [u.new for u in commands if not u.deleted]
                checked = checker.finish(quarantine, repo.object_store, tips)
            except BodyTooLarge as exc:
                refuse_all("too large", "pack too large", f"error: {exc}")
                return
            except IntegrityError as exc:
                # Refused from an entry's header, the rest of the pack is still on its way:
                # read it (uninflated, within the body limit) so git sees the answer.
                _drain(body)
                refuse_all(f"error {exc}", "rejected", f"error: {exc}")
                return
            except UnresolvedDeltas as exc:
                # A thin pack whose delta bases are neither in the pack nor in the repository.
                missing = ", ".join(sha.decode()[:12] for sha in exc.shas)
                refuse_all(
                    "error missing delta base",
                    "unpacker error",
                    f"error: the pack is missing objects its deltas are based on: {missing}",
                )
                return
            except UNREADABLE_PACK as exc:
                reason = str(exc).replace("\n", " ")[:200] or type(exc).__name__
                refuse_all(
                    "error bad pack",
                    "unpacker error",
                    f"error: the pack could not be read: {reason}",
                )
                return
            except OSError as exc:
                if not _disk_full(exc):
                    raise
                # The quarantine is gone already (receive_checked removes it); read the rest
                # of the pack so git shows the answer, not a broken connection.
                _drain(body)
                reason = _disk_full_reason(exc)
                refuse_all(reason, reason, f"error: {reason}")
                return
            for warning in checker.warnings:
                session.say(f"warning: {warning}")
            if checker.warning_count > len(checker.warnings):
                more = checker.warning_count - len(checker.warnings)
                session.say(f"warning: and {more} more objects with warnings")
            if checked > 500:
                session.say(f"Checked {checked} new objects.")
        incoming = Incoming(quarantine, repo) if quarantine is not None else None
        try:
            apply_updates(commands, options, session.say, incoming)
        except PushRefused as exc:
            refuse_all("ok", "rejected", str(exc))
            return
        except OSError as exc:
            # Writing a ref (undone then, see forge.git.refs) or moving the objects in. Said
            # truthfully: refused only when no ref holds its new value.
            if not _disk_full(exc) or _any_landed(repo, commands):
                raise
            reason = _disk_full_reason(exc)
            refuse_all("ok", reason, f"error: {reason}")
            return
    finally:
        if quarantine is not None:
            quarantine.close()
            shutil.rmtree(quarantine.path, ignore_errors=True)
    session.report("ok", [(u.ref.encode(), None) for u in commands])


def refuse_push(body: RequestBody, write: Callable[[bytes], object], message: str) -> None:
    """Refuse every ref update of a push without looking at it (forge cannot judge it now):
    read the commands and the pack, so git reads the answer rather than a broken pipe, then
    say why on a `remote:` line and report each ref rejected. Nothing is stored."""
    proto = BodyProtocol(body.recv, write)
    commands, capabilities = _read_commands(proto)
    if commands is None:
        return
    session = _Session(proto, capabilities)
    if CAPABILITY_PUSH_OPTIONS in capabilities:
        _read_push_options(proto)
    _drain(body)
    session.say(message)
    session.report("ok", [(u.ref.encode(), "try again later") for u in commands])


UNREADABLE_PACK = (
    ChecksumMismatch,
    ApplyDeltaError,
    FileFormatException,  # includes ObjectFormatException
    ObjectMissing,
    zlib.error,
    GitProtocolError,
    HangupException,
    AssertionError,
    ValueError,
    KeyError,
)


# A full disk, or the quota of the user forge runs as.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: OSError) -> bool:
    return exc.errno in _DISK_FULL


def _disk_full_reason(exc: OSError) -> str:
    """What the pusher reads; git shows it after `remote: ` and in the unpack error line."""
    return f"the server could not store the push: {os.strerror(exc.errno)}"


def _any_landed(repo: Repo, commands: list[RefUpdate]) -> bool:
    refs = repo.get_refs()
    return any(
        refs.get(u.ref.encode(), ZERO_SHA).decode() == u.new and u.new != u.old for u in commands
    )


class Incoming:
    """Objects a push brought, checked but not yet part of the repository.

    Checks that need to read them (is this a fast-forward?) see them through `visible()`;
    only an accepted push moves them in (`accept()`), so a refused one leaves nothing.
    """

    def __init__(self, store: DiskObjectStore, repo: Repo):
        self.store, self.repo = store, repo

    @contextmanager
    def visible(self):
        own = self.repo.object_store
        self.repo.object_store = OverlayObjectStore([own, self.store])
        try:
            yield
        finally:
            self.repo.object_store = own

    def accept(self) -> None:
        _migrate(self.store, self.repo)


def _read_commands(proto) -> tuple[list[RefUpdate] | None, set[bytes]]:
    line = proto.read_pkt_line()
    if line is None:
        return None, set()
    try:
        line, caps = extract_capabilities(line)
    except ValueError:
        # dulwich unpacks the line split at NULs into two: a second NUL raised ValueError out
        # of the request (found by fuzzing).
        raise GitProtocolError(f"invalid ref update line: {line[:120]!r}") from None
    commands = []
    while line is not None:  # an empty line ("0004") is not a flush: refused, as git does
        parts = line.rstrip(b"\n").split(b" ", 2)
        # The ids must be hex, as git's receive-pack requires: anything else raised
        # UnicodeDecodeError out of the request, or reached the hooks as an id (fuzzing).
        if len(parts) != 3 or not all(_HEX_ID.fullmatch(part) for part in parts[:2]):
            raise GitProtocolError(f"invalid ref update line: {line[:120]!r}")
        old, new, ref = parts
        commands.append(RefUpdate(ref.decode("utf-8", "replace"), old.decode(), new.decode()))
        line = proto.read_pkt_line()
    return commands, set(caps)


_HEX_ID = re.compile(rb"[0-9a-f]{40}")


def _read_push_options(proto) -> dict[str, str]:
    options: dict[str, str] = {}
    while True:
        line = proto.read_pkt_line()
        if line is None:
            return options
        key, _, value = line.rstrip(b"\n").decode("utf-8", "replace").partition("=")
        # A repeated option (`-o r=ann -o r=bob`) keeps every value, one per line: git
        # refuses push options holding a newline, so the joined values stay apart.
        options[key] = f"{options[key]}\n{value}" if key in options else value


def _bad_ref_names(commands: list[RefUpdate]) -> str | None:
    for update in commands:
        try:
            check_ref_name(update.ref, creating=update.created)
        except ValueError as exc:
            return str(exc)
    if len({u.ref for u in commands}) != len(commands):
        return "the same ref is updated twice in one push"
    return None


def _drain(body: RequestBody) -> None:
    try:
        while body.recv(65536):
            pass
    except BodyTooLarge:
        pass  # the refusal is written next; the server discards what is left


def _migrate(quarantine: DiskObjectStore, repo: Repo) -> None:
    """Move the checked pack files into the repository (index last, so readers never see
    a pack without its index)."""
    source = Path(quarantine.path) / "pack"
    target = Path(repo.object_store.pack_dir)
    packs = sorted(source.glob("pack-*.pack"))
    for pack in packs:
        os.replace(pack, target / pack.name)
    for index in sorted(source.glob("pack-*.idx")):
        os.replace(index, target / index.name)
