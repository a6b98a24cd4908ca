"""Property-based fuzzing of what forge parses from strangers: pkt-lines, packs, names, Markdown.

Each property feeds generated input (arbitrary bytes, or valid input built and then mutated)
to the real parser and says what must hold whatever the input: only the errors the callers
answer (a refusal, an ERR line) come out, never more is read or inflated than the bound, what
a well-formed stream says is what is parsed, names agree with real git, and rendered Markdown
holds nothing a browser would run. Hypothesis runs derandomized and without its example
database, so a run is the same in CI and here, writes nothing into the tree, and the module
stays well within a minute.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import struct
import subprocess
import tracemalloc
import unicodedata
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dulwich.errors import GitProtocolError
from dulwich.object_store import DiskObjectStore
from dulwich.pack import UnresolvedDeltas
from dulwich.protocol import ReceivableProtocol
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forge.errors import Invalid
from forge.git import fetch
from forge.git.integrity import IntegrityError, ObjectChecker, is_dangerous_name
from forge.git.quarantine import (
    INFLATE_STEP,
    QUARANTINE_PREFIX,
    _delta_result_size,
    inflate_bounded,
    receive_checked,
)
from forge.git.refs import check_ref_name
from forge.git.smart_http import (
    UNREADABLE_PACK,
    BodyProtocol,
    BodyTooLarge,
    RequestBody,
    _read_commands,
    _read_push_options,
)
from forge.repos.browse import MAX_PATH, split_path
from forge.repos.markup import render_markdown


def fuzz(examples: int):
    """Hypothesis settings for one property: a fixed number of derandomized examples, no time
    limit per example (a busy CI machine is slow, not wrong), no database in the tree."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def pkt(payload: bytes) -> bytes:
    return b"%04x" % (len(payload) + 4) + payload


FLUSH = b"0000"
ZERO = "0" * 40


class ShortReads(io.RawIOBase):
    """wsgi.input as servers give it: each read may return fewer bytes than asked."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step, self.position = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


NEXT_REQUEST = b"POST /next HTTP/1.1\r\n"


def request_body(data: bytes, limit: int, *, how: str = "length", step: int = 65536):
    """A RequestBody over `data` sent with a Content-Length (followed on the connection by
    the next request, which must never be read), chunked, gzip-encoded, or sent as it is
    under a Content-Encoding: gzip header ("claims-gzip")."""
    environ = {}
    if how == "chunked":
        stream = ShortReads(data, step)
        environ["wsgi.input_terminated"] = True
    else:
        sent = gzip.compress(data) if how == "gzip" else data
        stream = ShortReads(sent + NEXT_REQUEST, step)
        environ["CONTENT_LENGTH"] = str(len(sent))
        if how in ("gzip", "claims-gzip"):
            environ["HTTP_CONTENT_ENCODING"] = "gzip"
    environ["wsgi.input"] = stream
    return RequestBody(environ, limit), stream


# What the web layer answers while reading a git request (`smart_http.CLIENT_GONE` and
# `PROTOCOL_ERRORS`): HangupException is a GitProtocolError.
PROTOCOL_REFUSALS = (GitProtocolError, BodyTooLarge)


# --- the request body -----------------------------------------------------------------------

body_data = st.one_of(
    st.binary(max_size=2048),
    # Large enough to cross the 64 kB steps the body reads and inflates in.
    st.tuples(st.binary(min_size=1, max_size=64), st.integers(1, 3000)).map(
        lambda pair: (pair[0] * pair[1])[:150_000]
    ),
)
body_operation = st.one_of(
    st.tuples(st.just("read"), st.one_of(st.just(-1), st.integers(0, 70_000))),
    st.tuples(st.just("recv"), st.integers(1, 70_000)),
    st.tuples(st.just("unread"), st.integers(0, 100)),
)


@fuzz(150)
@given(
    data=body_data,
    # About the body's size (either side of it), or far below it: a flood.
    limit_slack=st.one_of(st.integers(-3000, 3000), st.integers(-200_000, -3000)),
    how=st.sampled_from(["length", "chunked", "gzip"]),
    step=st.sampled_from([1, 7, 4096, 65536]),
    operations=st.lists(body_operation, max_size=12),
)
@example(
    data=b"x" * 200_000, limit_slack=-199_000, how="length", step=65536, operations=[("read", -1)]
)
def test_request_body_hands_out_the_body_in_order_and_never_past_its_limit(
    data, limit_slack, how, step, operations
):
    limit = max(0, len(data) + limit_slack)
    body, stream = request_body(data, limit, how=how, step=step)
    received = bytearray()  # what the reader holds: handed out, less what it put back
    for operation, size in operations:
        position = len(received)
        if operation == "unread":
            back = bytes(received[position - min(size, position) :])
            body.unread(back)
            del received[position - len(back) :]
            continue
        want = len(data) - position if size < 0 else min(size, len(data) - position)
        try:
            chunk = body.read(size) if operation == "read" else body.recv(size)
        except BodyTooLarge:
            # Refused only when what was asked for goes past the limit.
            assert position + max(want, 1) > limit
            break
        if operation == "read":
            assert chunk == data[position : position + want]
        else:  # recv: some of what is there, at least a byte unless the body has ended
            assert chunk == data[position : position + len(chunk)]
            assert len(chunk) <= size and (chunk or position == len(data))
        received += chunk
        assert body.taken == len(received) <= limit
    # Never more in memory than one 64 kB step past the limit, and never a byte of the next
    # request on the connection.
    assert body.read_bytes <= limit + 65536
    if how != "chunked":
        assert stream.position <= len(stream.data) - len(NEXT_REQUEST)


@fuzz(150)
@given(data=st.binary(max_size=600), step=st.sampled_from([1, 3, 65536]))
@example(data=b"\x1f\x8b not gzip at all", step=65536)
@example(data=gzip.compress(b"0008abcd")[:-12], step=65536)
def test_a_body_claiming_gzip_that_is_not_is_a_protocol_error(data, step):
    # Sent as-is under Content-Encoding: gzip: garbage, or gzip cut short or extended.
    body, _stream = request_body(data, 1 << 20, how="claims-gzip", step=step)
    try:
        while body.read(1000):
            pass
    except PROTOCOL_REFUSALS:
        pass


# --- pkt-lines: a push's commands and options, a fetch's negotiation ------------------------

hex_id = st.binary(min_size=20, max_size=20).map(lambda raw: raw.hex())
ref_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\0\n\r"),
    min_size=1,
    max_size=60,
).filter(lambda ref: ref.strip() == ref)
capability = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
option_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\n"), max_size=40
)


@fuzz(100)
@given(
    updates=st.lists(st.tuples(hex_id, hex_id, ref_text), min_size=1, max_size=8),
    capabilities=st.lists(capability, min_size=1, max_size=6),
    options=st.lists(option_text, max_size=6),
    how=st.sampled_from(["length", "chunked", "gzip"]),
    step=st.sampled_from([1, 5, 65536]),
)
def test_push_commands_and_options_round_trip(updates, capabilities, options, how, step):
    lines = [f"{old} {new} {ref}".encode() for old, new, ref in updates]
    lines[0] += b"\0" + " ".join(capabilities).encode()
    stream = b"".join(pkt(line + b"\n") for line in lines) + FLUSH
    stream += b"".join(pkt(option.encode() + b"\n") for option in options) + FLUSH
    stream += b"PACK..."  # what follows is the pack, left unread
    body, _ = request_body(stream, 1 << 20, how=how, step=step)
    proto = BodyProtocol(body.recv, lambda _data: None)

    commands, caps = _read_commands(proto)
    assert [(c.old, c.new, c.ref) for c in commands] == updates
    assert caps == {c.encode() for c in capabilities}
    expected = {}
    for option in options:
        key, _, value = option.partition("=")
        # A repeated option keeps every value, one per line (`-o r=ann -o r=bob`).
        expected[key] = f"{expected[key]}\n{value}" if key in expected else value
    assert _read_push_options(proto) == expected


def arbitrary_pkt_stream():
    """Bytes that are pkt-lines some of the way: framed payloads, flushes, delims, garbage."""
    piece = st.one_of(
        st.binary(max_size=80).map(pkt),
        st.sampled_from([FLUSH, b"0001", b"0002", b"0003", b"-001", b"+00a", b"0x1f", b"zzzz"]),
        st.tuples(hex_id, hex_id, st.binary(max_size=30), st.binary(max_size=30)).map(
            lambda p: pkt(f"{p[0]} {p[1]} ".encode() + p[2] + b"\0" + p[3])
        ),
        st.binary(max_size=10),
    )
    return st.lists(piece, max_size=10).map(b"".join)


@fuzz(200)
@given(data=arbitrary_pkt_stream(), limit=st.sampled_from([40, 200, 1 << 20]))
@example(data=pkt(f"{ZERO} {ZERO} refs/heads/a\0caps\0more\n".encode()), limit=1 << 20)
@example(data=pkt(b"\xff" * 40 + f" {ZERO} refs/heads/a\n".encode()), limit=1 << 20)
@example(data=pkt(f"{'g' * 40} {ZERO} refs/heads/a\n".encode()), limit=1 << 20)
@example(data=b"0004", limit=1 << 20)
def test_garbled_push_commands_are_protocol_errors_only(data, limit):
    body, _ = request_body(data, limit)
    proto = BodyProtocol(body.recv, lambda _data: None)
    try:
        commands, _caps = _read_commands(proto)
        if commands is not None:
            _read_push_options(proto)
    except PROTOCOL_REFUSALS:
        return
    for command in commands or ():
        # The ids are what git would send, so a hook can trust them as ids.
        assert len(command.old) == len(command.new) == 40
        bytes.fromhex(command.old + command.new)
    assert body.taken <= limit


def dulwich_reads(data: bytes) -> tuple[int, int]:
    """How many have lines and flushes (delim included) dulwich's pkt-line reader takes from
    `data` before it ends or stops at something that is not a pkt-line: what upload-pack
    would process of it."""
    proto = ReceivableProtocol(io.BytesIO(data).read, lambda _data: None)
    haves = flushes = 0
    while True:
        try:
            line = proto.read_pkt_line()
        except GitProtocolError:  # HangupException at the end
            return haves, flushes
        if line is None:
            flushes += 1
        elif line.startswith(b"have "):
            haves += 1


def negotiation():
    have = st.just(pkt(b"have " + b"a" * 40 + b"\n"))
    piece = st.one_of(
        have,
        have,  # weighted: reaching the bound on haves takes six of them
        have,
        st.just(pkt(b"want " + b"b" * 40 + b" side-band-64k\n")),
        st.sampled_from([FLUSH, b"0001", pkt(b"done\n"), b"0002", b"+001", b" 001"]),
        st.binary(max_size=12),
    )
    return st.lists(piece, max_size=40).map(b"".join)


@fuzz(200)
@given(data=negotiation())
@example(data=b"0001" * 5 + pkt(b"have " + b"a" * 40 + b"\n") * 6)
@example(data=pkt(b"have " + b"a" * 40 + b"\n") * 6)
def test_negotiation_bounds_cover_everything_dulwich_reads(data):
    with pytest.MonkeyPatch.context() as patch:
        # The bounds scaled down to sizes a fuzzer reaches: 5 haves, 3 flushes, 1 kB.
        patch.setattr(fetch, "MAX_HAVES", 5)
        patch.setattr(fetch, "MAX_FLUSHES", 3)
        patch.setattr(fetch, "MAX_NEGOTIATION_BYTES", 1024)
        body, _ = request_body(data, 1 << 20, how="chunked", step=7)
        try:
            returned = fetch.read_bounded_negotiation(body)
        except fetch.NegotiationTooLarge:
            return
    # Accepted: handed back whole, and within every bound for all dulwich will read of it.
    assert returned == data
    haves, flushes = dulwich_reads(data)
    assert len(data) <= 1024 and haves <= 5 and flushes <= 3


# --- packs ----------------------------------------------------------------------------------


def git(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory) -> bytes:
    """A pack as git pushes it: two commits, their trees, a blob and a delta against it."""
    work = tmp_path_factory.mktemp("pack-source")
    git("init", "-q", "-b", "main", cwd=work)
    lines = [f"line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(60)]
    for round_ in range(2):
        lines[30] = f"changed in round {round_}\n"
        (work / "notes.txt").write_text("".join(lines))
        git("add", ".", cwd=work)
        git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", f"r{round_}", cwd=work)
    return git(
        "pack-objects", "--revs", "--stdout", "--delta-base-offset", cwd=work, stdin=b"HEAD\n"
    )


@pytest.fixture(scope="module")
def objects_dir(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("receiving") / "repo.git"
    git("init", "-q", "--bare", str(repo), cwd=repo.parent)
    return repo / "objects"


# The errors `smart_http.receive_pack` turns into a refusal of the push.
PACK_REFUSALS = (BodyTooLarge, IntegrityError, UnresolvedDeltas, *UNREADABLE_PACK)

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 8)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def mutate(pack: bytes, mutations, fix_checksum: bool) -> bytes:
    data = bytearray(pack[:-20] if fix_checksum else pack)
    for kind, where, what in mutations:
        where %= len(data) + 1
        if kind == "set" and where < len(data):
            data[where] = what
        elif kind == "insert":
            data[where:where] = what
        elif kind == "delete":
            del data[where : where + what]
        elif kind == "truncate":
            del data[where:]
    if fix_checksum:  # so the damage reaches the entries' checks, not only the trailer's
        data += hashlib.sha1(data).digest()
    return bytes(data)


@fuzz(120)
@given(
    mutations=st.lists(mutation, max_size=4),
    fix_checksum=st.booleans(),
    max_object_bytes=st.sampled_from([100, 2000, 1 << 20]),
    body_limit=st.sampled_from([500, 1 << 20]),
)
@example(mutations=[("truncate", 8, 0)], fix_checksum=False, max_object_bytes=100, body_limit=500)
@example(mutations=[("truncate", 0, 0)], fix_checksum=False, max_object_bytes=100, body_limit=500)
def test_mutated_packs_are_received_whole_or_refused(
    small_pack, objects_dir, mutations, fix_checksum, max_object_bytes, body_limit
):
    data = mutate(small_pack, mutations, fix_checksum)
    body, _ = request_body(data, body_limit, how="chunked", step=4096)
    checker = ObjectChecker(max_object_bytes)
    try:
        store = receive_checked(objects_dir, body.read, body.recv, checker)
    except PACK_REFUSALS:
        # Refused: the quarantine went with it.
        assert not list(objects_dir.glob(QUARANTINE_PREFIX + "*"))
        return
    try:
        try:
            checker.finish(store, DiskObjectStore(str(objects_dir)), [])
        except IntegrityError:
            return
        # Accepted: every object is within the limit, as is what was read of the body.
        assert body.taken <= body_limit
        for sha in store:
            _kind, raw = store.get_raw(sha)
            assert len(raw) <= max_object_bytes
    finally:
        store.close()
        for quarantine in objects_dir.glob(QUARANTINE_PREFIX + "*"):
            subprocess.run(["rm", "-rf", str(quarantine)], check=True)


def test_the_unmutated_pack_is_accepted(small_pack, objects_dir):
    # The baseline the mutations start from: were it refused, every property above would
    # hold vacuously.
    body, _ = request_body(small_pack, 1 << 20)
    checker = ObjectChecker(1 << 20)
    store = receive_checked(objects_dir, body.read, body.recv, checker)
    try:
        assert checker.finish(store, DiskObjectStore(str(objects_dir)), []) == 6
    finally:
        store.close()
        for quarantine in objects_dir.glob(QUARANTINE_PREFIX + "*"):
            subprocess.run(["rm", "-rf", str(quarantine)], check=True)


class CountingDigest:
    """A digest that only counts what it is fed: how much inflate_bounded let through."""

    def __init__(self):
        self.fed = 0

    def update(self, data: bytes) -> None:
        self.fed += len(data)


@fuzz(150)
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.integers(0, 300_000).map(lambda n: b"\0" * n),  # compresses a thousandfold
    ),
    declared_delta=st.integers(-200, 200),
    trailing=st.binary(max_size=40),
    level=st.sampled_from([0, 1, 9]),
)
def test_inflating_stops_at_the_declared_size(content, declared_delta, trailing, level):
    declared = max(0, len(content) + declared_delta)
    source = io.BytesIO(zlib.compress(content, level) + trailing)
    digest, heads = CountingDigest(), []
    try:
        unused = inflate_bounded(source.read, declared, check_head=heads.append, digest=digest)
    except zlib.error:
        assert declared != len(content)
        # Stopped within one step past the size the header claimed, whatever the stream holds.
        assert digest.fed <= declared
        return
    assert declared == len(content) == digest.fed
    assert unused + source.read() == trailing  # what was read past the entry comes back
    assert len(heads) <= 1
    if heads:
        assert content.startswith(heads[0]) and len(heads[0]) >= min(20, len(content))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@fuzz(200)
@given(base=st.integers(0, 1 << 70), result=st.integers(0, 1 << 70), rest=st.binary(max_size=20))
def test_a_delta_header_gives_its_result_size(base, result, rest):
    assert _delta_result_size(varint(base) + varint(result) + rest) == result


@fuzz(200)
@given(head=st.binary(max_size=40))
def test_any_delta_head_is_a_size_or_a_zlib_error(head):
    with contextlib.suppress(zlib.error):
        assert _delta_result_size(head) >= 0


def one_entry_pack(kind: int, declared: int, content: bytes) -> bytes:
    byte, size = (kind << 4) | (declared & 0x0F), declared >> 4
    header = bytearray()
    while size:
        header.append(byte | 0x80)
        byte, size = size & 0x7F, size >> 7
    header.append(byte)
    data = b"PACK" + struct.pack(">II", 2, 1) + bytes(header) + zlib.compress(content, 9)
    return data + hashlib.sha1(data).digest()


@fuzz(25)
@given(
    declared=st.integers(0, 3_000_000),
    actual=st.integers(0, 3_000_000),
    max_object_bytes=st.sampled_from([4096, 1 << 20]),
)
@example(declared=100, actual=3_000_000, max_object_bytes=1 << 20)
def test_a_pack_entry_lying_about_its_size_is_refused_without_inflating_it(
    objects_dir, declared, actual, max_object_bytes
):
    pack = one_entry_pack(3, declared, b"\0" * actual)
    body, _ = request_body(pack, 1 << 22, how="chunked", step=65536)
    tracemalloc.start()
    try:
        store = receive_checked(objects_dir, body.read, body.recv, ObjectChecker(max_object_bytes))
    except PACK_REFUSALS:
        store = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if store is not None:
        store.close()
        for quarantine in objects_dir.glob(QUARANTINE_PREFIX + "*"):
            subprocess.run(["rm", "-rf", str(quarantine)], check=True)
    assert (store is not None) == (declared == actual <= max_object_bytes)
    # Memory: the pack (here in the test's own buffers), a few inflate steps, and an object
    # within the limit; never the megabytes the zeros would inflate to.
    assert peak < len(pack) * 3 + 8 * INFLATE_STEP + 3 * min(max_object_bytes, declared)


# --- names: refs, tree entries, paths -------------------------------------------------------

ref_piece = st.sampled_from(
    [
        "refs/", "heads/", "tags/", "/", "//", ".", "..", "@", "@{", "{", "}", ".lock", "lock",
        "-", "HEAD", " ", "~", "^", ":", "?", "*", "[", "\\", "\x7f", "\x01", "\t", "é", "a",
        "main", "x.y", "ẞ", "\u200c",
    ]
)  # fmt: skip
ref_names = st.one_of(
    st.lists(ref_piece, min_size=1, max_size=10).map("".join),
    st.tuples(st.just("refs/heads/"), st.lists(ref_piece, max_size=6).map("".join)).map("".join),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=30).map(lambda t: "refs/" + t),
    st.text(max_size=300),
)


def git_accepts(ref: str) -> bool:
    return (
        subprocess.run(
            ["git", "check-ref-format", ref], capture_output=True, check=False
        ).returncode
        == 0
    )


@fuzz(200)
@given(ref=ref_names, creating=st.booleans())
@example(ref="refs/heads/HEAD", creating=True)
@example(ref="refs/heads/-x", creating=True)
@example(ref="refs/heads/a.lock/b", creating=False)
def test_ref_names_are_judged_as_git_check_ref_format_does(ref, creating):
    try:
        check_ref_name(ref, creating=creating)
        accepted = True
    except ValueError:
        accepted = False
    if "\0" in ref:  # cannot be passed to git; a control character either way
        assert not accepted
        return
    expected = ref.startswith("refs/") and len(ref) <= 255 and git_accepts(ref)
    if creating and expected:
        # GitHub's refusals on top of git's, for refs being created.
        short = ref.split("/", 2)[-1]
        expected = short != "HEAD" and not short.startswith("-")
    assert accepted == expected


# Characters HFS+ ignores in names, and so in ".git".
HFS_IGNORED = [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]


@st.composite
def spellings_of_git_dir(draw) -> bytes:
    """A tree entry name a checkout would write as the `.git` folder (or climbing out) on
    some filesystem: any case, HFS+-ignored code points anywhere, trailing dots and spaces
    (Windows), NFD-decomposed, or after a backslash (a folder separator on Windows)."""
    base = draw(st.sampled_from([".git", "git~1", "..", "."]))
    text = "".join(c.upper() if draw(st.booleans()) else c for c in base)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + chr(draw(st.sampled_from(HFS_IGNORED))) + text[at:]
    text += draw(st.text(st.sampled_from(". "), max_size=3))
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    if draw(st.booleans()):
        text = draw(st.text(st.characters(blacklist_characters="\0/"), max_size=5)) + "\\" + text
    return text.encode()


@fuzz(300)
@given(name=spellings_of_git_dir())
@example(name=".g\u200cit".encode())
@example(name=b"GIT~1. ")
def test_every_spelling_of_git_dir_is_a_dangerous_name(name):
    assert is_dangerous_name(name)


@fuzz(200)
@given(
    name=st.one_of(
        st.binary(max_size=20),
        st.text(max_size=20).map(str.encode),
    )
)
def test_names_with_a_slash_or_nul_are_dangerous_and_nothing_raises(name):
    dangerous = is_dangerous_name(name)
    if b"/" in name or b"\0" in name:
        assert dangerous


@fuzz(300)
@given(
    name=st.one_of(
        st.text(st.sampled_from("aAgGiItT~129._ -é"), min_size=1, max_size=8),
        st.sampled_from(["git~2", "GIT~10", "gitx", ".gitx", "..a", "git~1x", "x.git"]),
    )
)
def test_names_are_dangerous_only_when_they_fold_to_git_dir_or_dots(name):
    # Without separators or ignorable code points, a name is a checkout's problem only if,
    # lower-cased and with trailing dots and spaces gone (Windows), it is .git, git~1 or empty.
    folded = name.lower().rstrip(". ")
    assert is_dangerous_name(name.encode()) == (folded in (".git", "git~1", ""))


@fuzz(20)
@given(name=spellings_of_git_dir(), stream=st.sampled_from([":", "::$INDEX_ALLOCATION", ":x"]))
def test_ntfs_stream_spellings_of_git_dir_are_dangerous(name, stream):
    """NTFS reads `.git::$INDEX_ALLOCATION` as `.git` itself (CVE-2019-1352), as git fsck
    knows: such a name is `.git` in every spelling the other test makes."""
    assert is_dangerous_name(name + stream.encode())


path_piece = st.sampled_from(["a", "b.txt", ".", "..", "", "...", ".git", "\0", "é", " "])


@fuzz(300)
@given(
    spec=st.one_of(
        st.lists(path_piece, max_size=8).map("/".join),
        st.text(max_size=40),
        st.just("a/").map(lambda s: s * 2100),
    )
)
def test_browsing_paths_never_name_anything_outside_the_tree(spec):
    try:
        parts = split_path(spec)
    except Invalid:
        return
    assert "/".join(parts) == spec.rstrip("/")
    assert len(spec) <= MAX_PATH and "\0" not in spec
    assert not {"", ".", ".."} & set(parts)


# --- Markdown -------------------------------------------------------------------------------

DANGEROUS_FRAGMENTS = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//x></SCRIPT>", "<img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>", "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\" \x01javascript:alert(1)\">x</a>", "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>", "<a href=\"vbscript:msgbox\">x</a>",
    "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">", "[x](javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)", "![x](javascript:alert(1))", "[x]( javascript:a)",
    "<iframe src=//x></iframe>", "<object data=x></object>", "<embed src=x>",
    "<style>*{}</style>", "<p style=\"color:red\">", "<div onclick=x>", "<svg><script>x</script>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "<<script>>", "</",
    "<a href=x onmouseover=y>", "<!-- <script> -->", "<![CDATA[<script>]]>", "`<script>`",
    "```\n<script>\n```\n", "    <script>\n", "[ref]: javascript:alert(1)\n[a][ref]",
    "<details open ontoggle=alert(1)>", "<form action=javascript:x><button>", "- [ ] ",
    "<a href=\"#x\" id=\"y\">", "# heading {#id}", "| a | b |\n|---|---|\n| <script> | x |\n",
    "\n", " ", "text", "<", ">", "\"", "'", "=", "&", "(", ")", "[", "]",
]  # fmt: skip
generated_tag = st.builds(
    "<{} {}={}>".format,
    st.sampled_from(["a", "img", "p", "div", "span", "details", "td", "h1", "svg", "x"]),
    st.sampled_from(["onclick", "onerror", "style", "href", "src", "id", "class", "title"]),
    st.sampled_from(
        ['"javascript:alert(1)"', "x", '"data:text/html,x"', '"color:red"', "'#top'", '""']
    ),
)
markdown_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(DANGEROUS_FRAGMENTS), generated_tag), max_size=8).map(
        "".join
    ),
    st.lists(st.sampled_from(DANGEROUS_FRAGMENTS), max_size=12).map("".join),
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(DANGEROUS_FRAGMENTS), st.text(max_size=8)), max_size=8).map(
        "".join
    ),
)

FORBIDDEN_ELEMENTS = {"script", "iframe", "object", "embed", "style", "frame", "base", "link"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "data"}


class Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def url_scheme(url: str) -> str:
    # Browsers drop leading spaces and control characters and every tab and newline before
    # they read a URL's scheme, which is case-insensitive.
    url = "".join(c for c in url if c not in "\t\n\r").lstrip("".join(map(chr, range(0x21))))
    return url.split(":", 1)[0].lower() if ":" in url else ""


@fuzz(200)
@given(text=markdown_text, folder=st.sampled_from(["", "docs", "a/b"]))
def test_rendered_markdown_holds_nothing_a_browser_would_run(text, folder):
    html = render_markdown(text, "/o/r/blob/main", "/o/r/raw/main", folder)
    parser = Elements()
    parser.feed(str(html))
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in FORBIDDEN_ELEMENTS, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            assert name != "style", html
            if name in URL_ATTRIBUTES and value is not None:
                assert url_scheme(value) not in {"javascript", "vbscript", "data"}, html
