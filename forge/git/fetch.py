"""Answering fetches fast on long histories: what to send, and writing it from the packs.

dulwich's upload-pack keeps its protocol (ACK/NAK, shallow, filters); three of its parts
cost seconds, or most of the time, of a fetch on a 20,000-commit repository even when the
client is 100 commits behind, and are replaced here (see `install`):

* What to send. dulwich's MissingObjectFinder first collects every commit reachable from
  the client's haves (and loads the pack bitmap, 0.2 s, even to advertise refs). Git walks
  wants and haves together, newest first, and stops once only commits the client has are
  left; `WalkingMissingObjectFinder` does the same, reading commits and trees as raw
  text (no dulwich objects are built for them) and never reading the blobs it sends.
  Clock skew can make the walk stop early; that only sends objects the client already
  has, never too few, because a commit is left out only once it is proven reachable from
  a have.

* Negotiation. For every have line the client sends, dulwich checks whether the haves
  now cover the wants by parsing the wants' history back to the oldest have; the same
  check runs here on commit headers read once per request.

* Writing the pack. dulwich looks for reusable deltas by reading every entry of every pack
  (85,000 decompressions to send 400 objects). `write_pack_reusing_deltas` looks up each
  object to send in the pack indexes and copies its stored bytes: a delta is kept (as a
  REF_DELTA) when its base is sent too or the client has it (thin packs), otherwise the
  object is sent whole.
"""

from __future__ import annotations

import contextvars
import hashlib
import heapq
import stat
import threading
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress

import dulwich.errors
import dulwich.repo
import dulwich.server
from dulwich.object_format import SHA1
from dulwich.object_store import MissingObjectFinder
from dulwich.objects import S_ISGITLINK, Blob, Commit, Tag, Tree, parse_tree
from dulwich.pack import pack_object_header
from dulwich.server import UploadPackHandler

from forge.git.packs import OFS_DELTA, REF_DELTA, parse_entry_header
from forge.git.revindex import ReverseIndex, reverse_index
from forge.git.storage import PACK_GONE, open_packs

UNINTERESTING = True

# --- bounds on negotiation --------------------------------------------------------------------
#
# A stateless (HTTP) fetch request holds the client's wants, a flush, the haves of this round
# (git's fetch-pack sends them in batches of 16 growing to 16,384, then by a tenth a round,
# plus the commits already found in common), a flush, and perhaps "done". Anything well past
# that is not git negotiating; it is refused before any of it is looked at, with an ERR line
# (git prints "fatal: remote error: ...").
MAX_HAVES = 50_000
MAX_NEGOTIATION_BYTES = 8 * 1024 * 1024  # 50,000 have lines are 2.5 MB
MAX_FLUSHES = 16  # git sends two


class NegotiationTooLarge(dulwich.errors.GitProtocolError):
    """A fetch request over the negotiation bounds; the message is shown to the client."""


def read_bounded_negotiation(body) -> bytes:
    """The whole upload-pack request, read and checked against the bounds; to be given back
    to the body (`unread`) for the protocol handler.

    Reads at most MAX_NEGOTIATION_BYTES (and so never a "have" flood into memory), in one
    linear pass over its pkt-lines.
    """
    data = bytearray()
    while len(data) <= MAX_NEGOTIATION_BYTES:
        chunk = body.read(65536)
        if not chunk:
            break
        data += chunk
    if len(data) > MAX_NEGOTIATION_BYTES:
        raise NegotiationTooLarge(
            f"upload-pack: the request is larger than {MAX_NEGOTIATION_BYTES // (1024 * 1024)} MiB"
        )
    haves = flushes = position = 0
    view = memoryview(data)
    while position + 4 <= len(data):
        try:
            length = int(bytes(view[position : position + 4]), 16)
        except ValueError:
            break  # the protocol handler says what is wrong with it
        # A delim-pkt (0001) is a flush to dulwich's reader: counted as one, or a 0001 ended
        # this count while dulwich read on, past every bound but the size (found by fuzzing).
        if length in (0, 1):
            flushes += 1
            if flushes > MAX_FLUSHES:
                raise NegotiationTooLarge(
                    f"upload-pack: too many flush packets (more than {MAX_FLUSHES} in one request)"
                )
            position += 4
            continue
        if length < 4:
            break
        if view[position + 4 : position + 9] == b"have ":
            haves += 1
            if haves > MAX_HAVES:
                raise NegotiationTooLarge(
                    f"upload-pack: too many have lines (more than {MAX_HAVES} in one request)"
                )
        position += length
    return bytes(data)


class _MultiAckGraphWalkerImpl(dulwich.server.MultiAckGraphWalkerImpl):
    """dulwich's multi_ack walker, which asked after every common have whether the haves
    so far cover the wants (a set of all of them built, and history walked, each time: the
    cost grew with the square of the have lines). Asked here when their number reaches a
    power of two: the same answer, found a little later, for a cost linear in the lines."""

    def ack(self, have_ref) -> None:
        self._common.append(have_ref)
        if not self._found_base:
            self.walker.send_ack(have_ref, b"continue")
            count = len(self._common)
            if count & (count - 1) == 0 and self.walker.all_wants_satisfied(set(self._common)):
                self._found_base = True


@dataclass
class _FetchState:
    thin_pack: bool = False
    remote_has: set[bytes] = field(default_factory=set)
    # Commit headers read so far: negotiation asks about the same commits once per have.
    commits: dict[bytes, _CommitHeader | None] = field(default_factory=dict)


# What the running upload-pack learned (client capabilities, what the client has), for the
# pack writer, which dulwich calls without it. Set per request, in the request's thread.
_state: contextvars.ContextVar[_FetchState] = contextvars.ContextVar("fetch_state")


class ForgeUploadPackHandler(UploadPackHandler):
    """dulwich's upload-pack, remembering whether the client accepts thin packs."""

    def handle(self) -> None:
        token = _state.set(_FetchState())
        try:
            super().handle()
        finally:
            _state.reset(token)

    def set_client_capabilities(self, caps) -> None:
        super().set_client_capabilities(caps)
        _state.get().thin_pack = self.has_capability(b"thin-pack")


class WalkingMissingObjectFinder(MissingObjectFinder):
    def __init__(
        self,
        object_store,
        haves: Iterable[bytes],
        wants: Iterable[bytes],
        *,
        shallow=None,
        progress=None,
        get_tagged=None,
        get_parents=lambda commit: commit.parents,
    ) -> None:
        self.object_store = object_store
        self._get_parents = get_parents
        shallow = set(shallow or ())
        have_commits, have_tags, _ = _peel_all(object_store, haves, unknown_ok=True)
        want_commits, want_tags, want_others = _peel_all(object_store, wants, unknown_ok=False)
        missing, boundary = commits_between(
            object_store, want_commits, have_commits, shallow, get_parents
        )
        self.remote_has: set[bytes] = set(boundary) | set(have_tags)
        for sha in boundary:
            self.remote_has.update(
                _closure_of(object_store, _commit_header(object_store, sha).tree)
            )
        state = _state.get(None)
        if state is not None:
            state.remote_has = self.remote_has
        self.sha_done = set(self.remote_has)
        self.progress = progress or (lambda _message: None)
        self._tagged = (get_tagged and get_tagged()) or {}
        # Enumerated at once from the raw objects: dulwich's own __next__ builds a ShaFile for
        # every commit and tree it passes, which was most of a small fetch's time.
        roots = [*missing, *(want_tags - have_tags), *want_others]
        self._to_send = iter(_enumerate(object_store, roots, self.sha_done))

    def __next__(self):
        try:
            return next(self._to_send)
        except StopIteration:
            self.progress(f"counting objects: {len(self.sha_done)}, done.\n".encode("ascii"))
            raise


def _enumerate(store, roots: list[bytes], done: set[bytes]) -> list[tuple[bytes, tuple]]:
    """Every object reachable from `roots` and not in `done` (which grows), as (sha, hint)."""
    found: list[tuple[bytes, tuple]] = []
    pending = list(reversed(roots))
    while pending:
        sha = pending.pop()
        if sha in done:
            continue
        done.add(sha)
        type_num, raw = store.get_raw(sha)
        found.append((sha, (type_num, None)))
        if type_num == Commit.type_num:
            pending.append(raw[5:45])  # "tree <sha>\n" opens every commit
        elif type_num == Tree.type_num:
            entries = parse_tree(raw, SHA1.oid_length)
            if not entries:
                continue
            # Most entries of a fetched tree are unchanged since what the client has: sift
            # them out at C speed, in the tree's order, and look only at the new ones.
            _names, _modes, shas = zip(*entries, strict=True)
            new = set(shas).difference(done)
            for name, mode, child in compress(entries, map(new.__contains__, shas)):
                if child in done or S_ISGITLINK(mode):
                    continue
                if stat.S_ISDIR(mode):
                    pending.append(child)
                else:  # a blob is sent as it is: no need to read it here
                    done.add(child)
                    found.append((child, (Blob.type_num, name)))
        elif type_num == Tag.type_num:
            pending.append(_tag_target(raw))
    return found


def _tag_target(raw: bytes) -> bytes:
    return raw[7:47]  # "object <sha>\n" opens every tag


class _CommitHeader:
    """What a walk needs of a commit, read from its raw text without building a Commit."""

    __slots__ = ("id", "tree", "parents", "commit_time")

    def __init__(self, sha: bytes, raw: bytes):
        self.id = sha
        self.tree = raw[5:45]
        self.parents = []
        self.commit_time = 0
        for line in raw[: raw.find(b"\n\n")].split(b"\n")[1:]:
            if line.startswith(b"parent "):
                self.parents.append(line[7:47])
            elif line.startswith(b"committer "):
                self.commit_time = int(line.rsplit(b" ", 2)[1])
                break


def _commit_header(store, sha: bytes) -> _CommitHeader:
    """The commit's header (KeyError when `sha` is unknown or not a commit)."""
    state = _state.get(None)
    cache = state.commits if state is not None else {}
    try:
        header = cache[sha]
    except KeyError:
        type_num, raw = store.get_raw(sha)
        header = cache[sha] = _CommitHeader(sha, raw) if type_num == Commit.type_num else None
    if header is None:
        raise KeyError(sha)
    return header


def _all_wants_satisfied(store, haves, wants) -> bool:
    """dulwich's test of whether the client's haves cover all its wants (asked once per have
    line during negotiation), on cached commit headers instead of freshly parsed commits."""
    haves = set(haves)
    times = [h.commit_time for h in _headers(store, haves) if h is not None]
    earliest = min(times, default=0)
    return all(_want_satisfied(store, haves, want, earliest) for want in wants)


def _headers(store, shas):
    for sha in shas:
        try:
            yield _commit_header(store, sha)
        except KeyError:
            if sha not in store:
                raise
            yield None  # a tag or tree: dulwich skips those too


def _want_satisfied(store, haves: set[bytes], want: bytes, earliest: int) -> bool:
    if want in haves:
        return True
    try:
        start = _commit_header(store, want)
    except KeyError:
        return False  # not a commit: dulwich looks no further either
    pending = deque([start])
    known = {want}
    while pending:
        commit = pending.popleft()
        if commit.id in haves:
            return True
        for parent in commit.parents:
            if parent in known:
                continue
            known.add(parent)
            header = _commit_header(store, parent)
            if header.commit_time >= earliest:
                pending.append(header)
    return False


def commits_between(store, wants, haves, shallow, get_parents):
    """(commits reachable from wants but not haves, the have-side commits at the edge)."""
    flags: dict[bytes, bool] = {}
    heap: list[tuple[int, int, bytes]] = []
    order = 0

    def push(sha: bytes, uninteresting: bool) -> None:
        nonlocal order
        known = flags.get(sha)
        if known is not None and (known or not uninteresting):
            return  # nothing new: already uninteresting, or interesting again
        try:
            commit = _commit_header(store, sha)
        except KeyError:
            if uninteresting:
                return  # a have we do not know: the client has more than we do
            raise
        flags[sha] = uninteresting
        order += 1
        # Re-pushed when it turns uninteresting, so the mark spreads to its parents.
        heapq.heappush(heap, (-commit.commit_time, order, sha))

    for sha in haves:
        push(sha, UNINTERESTING)
    for sha in wants:
        push(sha, not UNINTERESTING)
    while heap and not all(flags[sha] for _, _, sha in heap):
        _, _, sha = heapq.heappop(heap)
        if sha in shallow:
            continue
        uninteresting = flags[sha]
        for parent in get_parents(_commit_header(store, sha)):
            push(parent, uninteresting)
    missing = {sha for sha, uninteresting in flags.items() if not uninteresting}
    boundary = {
        parent
        for sha in missing
        if sha not in shallow
        for parent in get_parents(_commit_header(store, sha))
        if flags.get(parent)
    }
    return missing, boundary


def _closure_of(store, tree_sha: bytes) -> frozenset[bytes]:
    path = getattr(store, "path", None)
    if path is None:
        return frozenset(_tree_closure(store, tree_sha))
    # A tree's closure never changes (objects are immutable); fetches from the same base,
    # such as CI clones of main, share it. Keyed by path so each repository has its own.
    key = (str(path), tree_sha)
    closure = _closures.get(key)
    if closure is None:
        closure = frozenset(_tree_closure(store, tree_sha))
        with _closures_lock:
            _closures[key] = closure
            while len(_closures) > 16:
                del _closures[next(iter(_closures))]  # the oldest first
    return closure


_closures: dict[tuple[str, bytes], frozenset[bytes]] = {}
_closures_lock = threading.Lock()


def _peel_all(store, shas, unknown_ok: bool) -> tuple[set[bytes], set[bytes], set[bytes]]:
    """Commits (tags peeled), tags, and other objects (trees, blobs) among `shas`."""
    commits, tags, others = set(), set(), set()
    # Each sha once, and commits known from their type alone: building a Commit for each of
    # 40,000 have lines took 3.7 s.
    for sha in set(shas):
        try:
            type_num, _raw = store.get_raw(sha)
        except KeyError:
            if unknown_ok:
                continue
            raise
        if type_num == Commit.type_num:
            commits.add(sha)
            continue
        obj = store[sha]
        while isinstance(obj, Tag):
            tags.add(obj.id)
            obj = store[obj.object[1]]
        if isinstance(obj, Commit):
            commits.add(obj.id)
        else:
            others.add(obj.id)
    return commits, tags, others


def _tree_closure(store, tree_sha: bytes) -> set[bytes]:
    seen = {tree_sha}
    pending = [tree_sha]
    while pending:
        type_num, raw = store.get_raw(pending.pop())
        if type_num != Tree.type_num:
            continue
        for _name, mode, child in parse_tree(raw, SHA1.oid_length):
            if child in seen or S_ISGITLINK(mode):
                continue
            seen.add(child)
            if stat.S_ISDIR(mode):
                pending.append(child)
    return seen


# --- writing the pack -----------------------------------------------------------------------


def write_pack_reusing_deltas(write, container, object_ids, object_format=SHA1, **_options):
    """Write a pack of `object_ids` (sha, hint) from `container`, copying stored bytes."""
    state = _state.get(None) or _FetchState()
    shas = [sha for sha, _hint in object_ids]
    sending = set(shas)
    client_has = state.remote_has if state.thin_pack else set()
    digest = hashlib.sha1()
    pending = bytearray()  # sent in side-band-sized pieces, not one packet per object

    def emit(data: bytes) -> None:
        digest.update(data)
        pending.extend(data)
        if len(pending) >= 65000:
            write(bytes(pending))
            pending.clear()

    emit(b"PACK" + (2).to_bytes(4, "big") + len(shas).to_bytes(4, "big"))
    packs = [_PackReader(pack) for pack in open_packs(container)]
    for sha in shas:
        try:
            entry = _stored_entry(packs, sha, sending, client_has)
        except PACK_GONE:
            # Pack maintenance replaced a pack under this fetch (its reverse index is read
            # by path): the merged pack holds the same objects. Every entry written so far
            # names its delta base by sha, so the rest may come from any pack.
            packs = [_PackReader(pack) for pack in open_packs(container)]
            entry = _stored_entry(packs, sha, sending, client_has)
        emit(entry or _whole_entry(container, sha))
    write(bytes(pending) + digest.digest())
    return {}, digest.digest()


class _PackReader:
    """One pack, for one pack write: its entries' bytes, found by name or by offset."""

    def __init__(self, pack):
        self.pack = pack
        self._reverse = None
        self._size = None

    def offset_of(self, sha: bytes) -> int:
        return self.pack.index.object_offset(sha)

    def read(self, offset: int, size: int) -> bytes:
        # From dulwich's mapping of the pack: no system call per read.
        return self.pack.data._buffer()[offset : offset + size]

    @property
    def reverse(self) -> ReverseIndex:
        if self._reverse is None:
            self._reverse = reverse_index(self.pack._basename + ".idx")
        return self._reverse

    def end_of(self, offset: int) -> int:
        if self._size is None:
            self._size = len(self.pack.data._buffer())
        return self.reverse.end_of(offset, self._size)

    def sha_at(self, offset: int) -> bytes:
        """The hex sha of the object at an offset of the pack."""
        return self.reverse.name_at(offset).hex().encode()


def _stored_entry(packs, sha: bytes, sending: set, client_has: set) -> bytes | None:
    """The object's bytes as stored in a pack, if the receiver can resolve them."""
    for pack in packs:
        try:
            offset = pack.offset_of(sha)
        except KeyError:
            continue
        header = parse_entry_header(pack.read(offset, 32))
        end = pack.end_of(offset)
        compressed = pack.read(offset + header.end, end - offset - header.end)
        if header.kind == OFS_DELTA:
            base = pack.sha_at(offset - header.base_distance)
        elif header.kind == REF_DELTA:
            base = header.base_sha.hex().encode()
        else:
            return bytes(pack_object_header(header.kind, None, header.size, SHA1)) + compressed
        if base not in sending and base not in client_has:
            return None  # its base is neither sent nor at the client: send it whole
        ref_header = pack_object_header(REF_DELTA, bytes.fromhex(base.decode()), header.size, SHA1)
        return bytes(ref_header) + compressed
    return None  # a loose object


def _whole_entry(store, sha: bytes) -> bytes:
    try:
        type_num, raw = store.get_raw(sha)
    except PACK_GONE:  # a pack listed, then removed by maintenance: look again
        open_packs(store)
        type_num, raw = store.get_raw(sha)
    return bytes(pack_object_header(type_num, None, len(raw), SHA1)) + zlib.compress(raw, 1)


def copy_objects(source, target, sha: str) -> None:
    """Bring into `target` the objects reachable from `sha` in `source` that it lacks
    (a fork's commits into the repository a change proposes them to)."""
    haves = list(target.get_refs().values())
    finder = WalkingMissingObjectFinder(source.object_store, haves=haves, wants=[sha.encode()])
    target.object_store.add_objects([(source.object_store[oid], None) for oid, _hint in finder])


def install() -> None:
    """Put the finder, the negotiation check and the pack writer into dulwich's upload-pack."""
    dulwich.repo.MissingObjectFinder = WalkingMissingObjectFinder
    dulwich.server.write_pack_from_container = write_pack_reusing_deltas
    dulwich.server._all_wants_satisfied = _all_wants_satisfied
    dulwich.server.MultiAckGraphWalkerImpl = _MultiAckGraphWalkerImpl
