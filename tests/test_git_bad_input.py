"""Bad input over git smart HTTP: each gets a clear answer and changes nothing.

Broken packs, objects that name what is not there, tree entries a checkout must not write,
ill-formed ref names, repository paths that try to leave FORGE_HOME, oversized bodies and
files, a client that hangs up halfway, and twenty clients racing for one branch. After each
refusal the refs are exactly as before, no quarantine directory (`objects/incoming-*`) is
left behind, and the next ordinary push works.

The real `git` client makes the input where it can; where git refuses to produce it, the
request is written by hand: pkt-lines and a pack built with dulwich.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import itertools
import os
import socket
import struct
import subprocess
import threading
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
import requests
from conftest import HostedRepo, wait_for
from dulwich.objects import DEFAULT_OBJECT_FORMAT, Blob, Commit, ShaFile, Tree
from dulwich.pack import REF_DELTA, create_delta, write_pack_objects
from dulwich.repo import Repo

from forge.git import index_pack
from forge.git.fsck import MESSAGES

ZERO = "0" * 40
FLUSH = b"0000"

# --- speaking the protocol by hand ----------------------------------------------------------


def pkt(payload: bytes) -> bytes:
    return b"%04x" % (len(payload) + 4) + payload


def pkt_lines(data: bytes) -> list[bytes]:
    """The payloads of a run of pkt-lines (flushes dropped)."""
    payloads = []
    while data:
        length = int(data[:4], 16)
        if length:
            payloads.append(data[4:length])
        data = data[max(length, 4) :]
    return payloads


def commands(*updates: tuple[str, str, str], sideband: bool = True) -> bytes:
    """The command section of a push: `old new ref` lines, capabilities on the first."""
    caps = b"report-status side-band-64k" if sideband else b"report-status"
    lines = [
        pkt(f"{old} {new} {ref}".encode() + (b"\0" + caps if i == 0 else b"") + b"\n")
        for i, (old, new, ref) in enumerate(updates)
    ]
    return b"".join(lines) + FLUSH


def pack_of(*objects: ShaFile) -> bytes:
    out = BytesIO()
    write_pack_objects(out.write, objects, DEFAULT_OBJECT_FORMAT)
    return out.getvalue()


def raw_pack(*entries: tuple[int, bytes, bytes | None]) -> bytes:
    """A pack written byte by byte: (type number, data, delta base id or None) per entry."""
    out = BytesIO()
    out.write(b"PACK" + struct.pack(">II", 2, len(entries)))
    for type_num, data, base in entries:
        size = len(data)
        byte, size = (type_num << 4) | (size & 0x0F), size >> 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte, size = size & 0x7F, size >> 7
        header.append(byte)
        out.write(bytes(header) + (bytes.fromhex(base.decode()) if base else b""))
        out.write(zlib.compress(data))
    body = out.getvalue()
    return body + hashlib.sha1(body).digest()


def raw_tree(name: bytes, blob: Blob, *others: bytes) -> tuple[bytes, bytes]:
    """Tree bytes made by hand with an entry `name` (and `others` beside it, in git's
    order), each a file holding `blob`, and the tree's id."""
    sha = bytes.fromhex(blob.id.decode())
    data = b"".join(b"100644 " + entry + b"\0" + sha for entry in sorted({name, *others}))
    return data, hashlib.sha1(b"tree %d\0" % len(data) + data).hexdigest().encode()


def make_commit(tree: bytes, parents: list[bytes], message: bytes = b"pushed by hand") -> Commit:
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author = commit.committer = b"Test Author <author@example.org>"
    commit.author_time = commit.commit_time = 1_700_000_000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message + b"\n"
    return commit


@dataclass
class Answer:
    status: int
    report: list[str]  # report-status lines: "unpack ok", "ng refs/heads/main rejected", ...
    remote: str  # what git prints as `remote: ...`


def parse_answer(response: requests.Response) -> Answer:
    """Split a receive-pack answer: report-status (side-band 1) and messages (side-band 2)."""
    bands = pkt_lines(response.content)
    remote = b"".join(band[1:] for band in bands if band[:1] == b"\x02")
    status = pkt_lines(b"".join(band[1:] for band in bands if band[:1] == b"\x01"))
    report = [line.rstrip(b"\n").decode("utf-8", "replace") for line in status]
    return Answer(response.status_code, report, remote.decode("utf-8", "replace"))


def basic_auth(repo: HostedRepo) -> str:
    """The Authorization header for the repository's owner and token."""
    return "Basic " + base64.b64encode(f"{repo.owner}:{repo.token}".encode()).decode()


# --- a repository with one pushed commit ----------------------------------------------------


@dataclass
class Pushed:
    """A hosted repository whose main holds one commit pushed by the real git client."""

    repo: HostedRepo
    work: Path
    bare: Path
    base: str  # the commit main points at

    def refs(self) -> dict[bytes, bytes]:
        with Repo(str(self.bare)) as bare:
            return bare.get_refs()

    def leftovers(self) -> list[str]:
        """Quarantine directories, temporary files and packs without their index."""
        objects, packs = self.bare / "objects", self.bare / "objects" / "pack"
        found = [p.name for p in objects.iterdir() if p.name.startswith(("incoming", "tmp"))]
        found += [p.name for p in packs.iterdir() if p.name.startswith("tmp")]
        found += [p.name for p in packs.glob("*.pack") if not p.with_suffix(".idx").exists()]
        return found

    def post(self, body) -> requests.Response:
        return requests.post(
            self.repo.url + "/git-receive-pack",
            data=body,
            headers={"Content-Type": "application/x-git-receive-pack-request"},
            auth=(self.repo.owner, self.repo.token),
            timeout=30,
        )

    def push(self, body) -> Answer:
        return parse_answer(self.post(body))

    def next_commit(self, content: bytes = b"new content\n") -> tuple[Commit, list[ShaFile]]:
        """A good commit on top of main, and the objects a pack for it needs."""
        blob = Blob.from_string(content)
        tree = Tree()
        tree.add(b"README.md", 0o100644, blob.id)
        commit = make_commit(tree.id, [self.base.encode()])
        return commit, [blob, tree, commit]

    def update_main(self, new: bytes) -> bytes:
        return commands((self.base, new.decode(), "refs/heads/main"))


@pytest.fixture
def pushed(git, hosted_repo, settings, tmp_path) -> Pushed:
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    bare = settings.repos_dir / "alice" / "project.git"
    return Pushed(repo=repo, work=work, bare=bare, base=git.head(work))


def assert_unchanged(pushed: Pushed, before: dict[bytes, bytes], git) -> None:
    """Nothing moved, nothing was left behind, and an ordinary push still works."""
    assert pushed.refs() == before
    assert pushed.leftovers() == []
    git.run("reset", "-q", "--hard", pushed.base, cwd=pushed.work)
    after = git.commit(pushed.work, {"next.txt": "an ordinary change\n"}, "an ordinary change")
    git.run("push", "-q", pushed.repo.push_url, "HEAD:main", cwd=pushed.work)
    assert pushed.refs()[b"refs/heads/main"] == after.encode()
    assert pushed.leftovers() == []


# --- broken packs ---------------------------------------------------------------------------


def push_broken_pack(pushed: Pushed, git, damage) -> Answer:
    commit, objects = pushed.next_commit(b"some content to damage\n" * 50)
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + damage(bytearray(pack_of(*objects))))
    assert answer.report[0].startswith("unpack error")
    assert answer.report[1:] == ["ng refs/heads/main unpacker error"]
    assert "error: the pack could not be read: " in answer.remote
    assert_unchanged(pushed, before, git)
    return answer


def test_corrupt_pack_is_refused(pushed, git):
    def flip_the_middle(pack: bytearray) -> bytes:
        middle = len(pack) // 2
        pack[middle : middle + 8] = bytes(b ^ 0xFF for b in pack[middle : middle + 8])
        return bytes(pack)

    push_broken_pack(pushed, git, flip_the_middle)


def test_truncated_pack_is_refused(pushed, git):
    push_broken_pack(pushed, git, lambda pack: bytes(pack[: len(pack) // 2]))


def test_pack_with_a_wrong_checksum_is_refused(pushed, git):
    def flip_the_checksum(pack: bytearray) -> bytes:
        pack[-1] ^= 0xFF
        return bytes(pack)

    answer = push_broken_pack(pushed, git, flip_the_checksum)
    assert "checksum" in answer.remote.lower()


# --- objects that name what is not there ----------------------------------------------------


def test_thin_pack_against_a_base_the_server_lacks_is_refused(pushed, git):
    base = Blob.from_string(b"a blob only the client has\n" * 10)
    target = Blob.from_string(base.as_raw_string() + b"and one more line\n")
    delta = b"".join(create_delta(base.as_raw_string(), target.as_raw_string()))
    tree = Tree()
    tree.add(b"README.md", 0o100644, target.id)
    commit = make_commit(tree.id, [pushed.base.encode()])
    pack = raw_pack(
        (REF_DELTA, delta, base.id),
        (Tree.type_num, tree.as_raw_string(), None),
        (Commit.type_num, commit.as_raw_string(), None),
    )
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + pack)
    assert answer.status == 200
    assert answer.report == ["unpack error missing delta base", "ng refs/heads/main unpacker error"]
    assert (
        f"error: the pack is missing objects its deltas are based on: {base.id.decode()[:12]}"
        in answer.remote
    )
    assert_unchanged(pushed, before, git)


@pytest.mark.parametrize("missing", ["parent", "tree"])
def test_commit_naming_a_missing_object_is_refused(pushed, git, missing):
    _, (blob, tree, _) = pushed.next_commit()
    nowhere = b"1234567890" * 4
    if missing == "parent":
        commit, objects = make_commit(tree.id, [nowhere]), [blob, tree]
    else:
        commit, objects = make_commit(nowhere, [pushed.base.encode()]), [blob]
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + pack_of(*objects, commit))
    problem = f"object {commit.id.decode()[:12]} names a missing {missing} 123456789012"
    assert answer.report == [f"unpack error {problem}", "ng refs/heads/main rejected"]
    assert f"error: {problem}" in answer.remote
    assert_unchanged(pushed, before, git)


# --- tree entries a checkout must not write -------------------------------------------------


def test_tree_entries_with_dangerous_names_are_refused(pushed, git):
    before = pushed.refs()
    blob = Blob.from_string(b"[core]\n\tfsmonitor = echo owned\n")
    names = {
        b".git": "hasDotgit",
        b"..": "hasDotdot",
        b".GIT": "hasDotgit",
        b"git~1": "hasDotgit",
        b".git.": "hasDotgit",
        b"a/b": "fullPathname",
    }
    # Alone, and among the harmless dotfiles and plain files a real project's top folder has
    # (trees like that are checked a whole tree at a time, dotfiles one by one).
    for (name, msg_id), others in itertools.product(
        names.items(), [(), (b".gitignore", b".mailmap", b"Makefile", b"README.md")]
    ):
        data, tree_id = raw_tree(name, blob, *others)
        commit = make_commit(tree_id, [pushed.base.encode()])
        pack = raw_pack(
            (Blob.type_num, blob.as_raw_string(), None),
            (Tree.type_num, data, None),
            (Commit.type_num, commit.as_raw_string(), None),
        )
        answer = pushed.push(pushed.update_main(commit.id) + pack)
        assert answer.report[1:] == ["ng refs/heads/main rejected"], name
        problem = (
            f"object {tree_id.decode()}: {msg_id}: "  # git's msg-id, as `git fsck` names it
            f"{MESSAGES[msg_id][1]} (an entry named {name.decode()!r}, "
            "which a checkout must not write)"
        )
        assert problem in answer.report[0] and problem in answer.remote, name
        assert pushed.refs() == before and pushed.leftovers() == [], name
    assert_unchanged(pushed, before, git)


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([(b"100644", b"b"), (b"100644", b"a")], "treeNotSorted: not properly sorted"),
        ([(b"100644", b"a"), (b"100644", b"a")], "duplicateEntries: contains duplicate"),
    ],
)
def test_malformed_trees_are_refused(pushed, git, entries, problem):
    # Trees git itself would never write, as `git fsck` refuses them.
    blob = Blob.from_string(b"content\n")
    data = b"".join(
        mode + b" " + name + b"\0" + bytes.fromhex(blob.id.decode()) for mode, name in entries
    )
    tree_id = hashlib.sha1(b"tree %d\0" % len(data) + data).hexdigest().encode()
    commit = make_commit(tree_id, [pushed.base.encode()])
    pack = raw_pack(
        (Blob.type_num, blob.as_raw_string(), None),
        (Tree.type_num, data, None),
        (Commit.type_num, commit.as_raw_string(), None),
    )
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + pack)
    assert answer.report[1:] == ["ng refs/heads/main rejected"]
    assert f"error: object {tree_id.decode()}: {problem}" in answer.remote
    assert problem in answer.report[0]
    assert_unchanged(pushed, before, git)


def test_dangerous_tree_made_by_git_itself_is_refused(pushed, git):
    # git's own mktree writes a `.GIT` entry if asked to; its push is refused by forge.
    cwd = pushed.work
    blob = git.run("hash-object", "-w", "--stdin", cwd=cwd, input="x\n").stdout.strip()
    tree = git.run("mktree", cwd=cwd, input=f"100644 blob {blob}\t.GIT\n").stdout.strip()
    commit = git.run("commit-tree", tree, "-p", pushed.base, "-m", "poison", cwd=cwd).stdout
    before = pushed.refs()
    refused = git.run(
        "push", pushed.repo.push_url, f"{commit.strip()}:refs/heads/main", cwd=cwd, check=False
    )
    assert refused.returncode != 0
    assert f"remote: error: object {tree}: hasDotgit: contains '.git' " in refused.stderr
    assert "an entry named '.GIT', which a checkout must not write" in refused.stderr
    assert "[remote rejected] " in refused.stderr
    assert_unchanged(pushed, before, git)


# --- ref names ------------------------------------------------------------------------------


def test_ill_formed_ref_names_are_refused(pushed, git):
    before = pushed.refs()
    commit, objects = pushed.next_commit()
    for ref, problem in [
        ("refs/heads/../x", "a component starts with '.'"),
        ("HEAD", "ref 'HEAD' must start with refs/"),
        ("refs/heads/a b", "it contains a space, control character"),
        ("refs/heads/a\x01b", "it contains a space, control character"),
        ("refs/heads/x.lock", "ends with '.lock'"),
    ]:
        answer = pushed.push(commands((ZERO, commit.id.decode(), ref)) + pack_of(*objects))
        assert answer.report == ["unpack ok", f"ng {ref} invalid ref name"]
        assert problem in answer.remote, ref
        assert "\x01" not in answer.remote  # named with escapes, never echoed raw
        assert pushed.refs() == before and pushed.leftovers() == [], ref
    assert_unchanged(pushed, before, git)


def test_same_ref_twice_in_one_push_is_refused(pushed, git):
    commit, objects = pushed.next_commit()
    other, more = pushed.next_commit(b"other content\n")
    body = commands(
        (pushed.base, commit.id.decode(), "refs/heads/main"),
        (pushed.base, other.id.decode(), "refs/heads/main"),
    )
    before = pushed.refs()
    answer = pushed.push(body + pack_of(*objects, *more))
    assert answer.report == ["unpack ok"] + ["ng refs/heads/main invalid ref name"] * 2
    assert "error: the same ref is updated twice in one push" in answer.remote
    assert_unchanged(pushed, before, git)


def test_refusal_without_side_band_is_plain_pkt_lines(pushed, git):
    commit, objects = pushed.next_commit()
    body = commands((ZERO, commit.id.decode(), "refs/heads/x.lock"), sideband=False)
    before = pushed.refs()
    response = pushed.post(body + pack_of(*objects))
    assert response.content == (
        pkt(b"unpack ok\n") + pkt(b"ng refs/heads/x.lock invalid ref name\n") + FLUSH
    )
    assert_unchanged(pushed, before, git)


def test_garbled_command_line_gets_an_error_line(pushed, git):
    before = pushed.refs()
    response = pushed.post(pkt(b"abc def refs/heads/main\0report-status\n") + FLUSH)
    assert response.status_code == 200
    [line] = pkt_lines(response.content)
    assert line.startswith(b"ERR invalid ref update line: b'abc def refs/heads/main")
    assert_unchanged(pushed, before, git)


# --- repository paths -----------------------------------------------------------------------


@pytest.fixture
def outside(git, tmp_path, settings) -> tuple[Path, str]:
    """A bare repository beside the repositories directory, where `..` would lead, and its
    commit, which must never be served."""
    work = git.init(tmp_path / "outside-work", {"secret.txt": "not yours\n"})
    bare = settings.repos_dir.parent / "outside.git"
    git.run("clone", "-q", "--bare", str(work), str(bare))
    return bare, git.head(work)


def raw_get(live_server: str, path: str, authorization: str) -> tuple[int, bytes]:
    """GET a path exactly as written (requests would resolve `..` before sending)."""
    host, port = live_server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": authorization})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_repository_path_tricks_answer_not_found(pushed, live_server, outside):
    paths = [
        "/alice/../alice/project.git",
        "/alice/%2e%2e/alice/project.git",
        "/%2e%2e/outside.git",  # FORGE_HOME/repos/../outside.git is there
        "/%2e%2e/outside",
        "/alice/%2e%2e%2f%2e%2e%2foutside.git",
        "/alice/..%2f..%2foutside",
        "/alice/project%00.git",
        "/alice%00/project.git",
        "/alice/project.git%00",
        "/alice/project.git%00/../../outside.git",
    ]
    for path in paths:
        url = path + "/info/refs?service=git-upload-pack"
        status, body = raw_get(live_server, url, basic_auth(pushed.repo))
        assert status in (400, 404), path
        assert outside[1].encode() not in body and pushed.base.encode() not in body, path


@pytest.mark.parametrize("target", ["outside the repositories", "another repository"])
def test_repository_directory_replaced_by_a_symlink_is_not_served(
    pushed, live_server, outside, hosted_repo, settings, tmp_path, git, target
):
    elsewhere, secret = outside
    if target == "another repository":
        hosted_repo(owner="bob", name="private", private=True)
        elsewhere = settings.repos_dir / "bob" / "private.git"
        git.run("push", "-q", str(elsewhere), f"{secret}:refs/heads/main", cwd=outside[0])
    pushed.bare.rename(tmp_path / "moved-away.git")
    pushed.bare.symlink_to(elsewhere)

    status, body = raw_get(
        live_server, "/alice/project.git/info/refs?service=git-upload-pack", basic_auth(pushed.repo)
    )
    assert (status, body) == (404, b"Repository not found.\n")
    refused = git.run("clone", pushed.repo.push_url, str(tmp_path / "clone"), check=False)
    assert refused.returncode != 0 and "Repository not found" in refused.stderr
    assert secret not in refused.stdout + refused.stderr


def test_owner_directory_replaced_by_a_symlink_is_not_served(
    pushed, live_server, outside, hosted_repo, settings, tmp_path
):
    bob = hosted_repo(owner="bob", name="project")
    bob_dir = settings.repos_dir / "bob"
    bob_dir.rename(tmp_path / "bob-moved-away")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "project.git").symlink_to(outside[0])
    bob_dir.symlink_to(elsewhere)
    status, body = raw_get(
        live_server, "/bob/project.git/info/refs?service=git-upload-pack", basic_auth(bob)
    )
    assert (status, body) == (404, b"Repository not found.\n")


# --- sizes ----------------------------------------------------------------------------------


def incompressible(size: int) -> str:
    """Text that zlib cannot shrink much: hex digits of a hash chain."""
    digests, seed = [], b"seed"
    while len(digests) * 64 < size:
        seed = hashlib.sha256(seed).digest()
        digests.append(seed.hex())
    return "".join(digests)[:size]


def test_body_over_the_limit_is_refused_naming_the_limit(pushed, git, app):
    app.extensions["forge.settings"].max_body_bytes = 10_000
    before = pushed.refs()
    git.commit(pushed.work, {"big.txt": incompressible(100_000)}, "big")
    # git sends a body up to http.postBuffer with a Content-Length, a larger one chunked.
    for post_buffer, framing in [("1m", "Content-Length"), ("65520", "Transfer-Encoding")]:
        refused = subprocess.run(
            ["git", "-c", f"http.postBuffer={post_buffer}", "push", pushed.repo.push_url, "main"],
            cwd=pushed.work,
            env={**git.env, "GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0
        assert f"Send header: {framing}" in refused.stderr.split("Send header: POST ")[-1]
        assert (
            "remote: error: the request is larger than the limit of 10000 bytes" in refused.stderr
        )
        assert "[remote rejected] main -> main (pack too large)" in refused.stderr
        assert pushed.refs() == before and pushed.leftovers() == []
    app.extensions["forge.settings"].max_body_bytes = 1 << 30
    assert_unchanged(pushed, before, git)


def test_file_over_the_size_limit_is_refused_naming_the_limit(pushed, git, app):
    app.extensions["forge.settings"].max_object_bytes = 1000
    before = pushed.refs()
    git.commit(pushed.work, {"big.bin": "x" * 5000}, "big file")
    big = git.run("rev-parse", "HEAD:big.bin", cwd=pushed.work).stdout.strip()
    refused = git.run("push", pushed.repo.push_url, "main", cwd=pushed.work, check=False)
    assert refused.returncode != 0
    assert (
        f"remote: error: file {big[:12]} is 5000 bytes, larger than the limit of 1000 bytes"
        in refused.stderr
    )
    assert "[remote rejected] main -> main (rejected)" in refused.stderr
    assert_unchanged(pushed, before, git)


# --- a client that hangs up -----------------------------------------------------------------


def test_client_disconnecting_mid_push_leaves_nothing_behind(pushed, git, live_server):
    commit, objects = pushed.next_commit(incompressible(600_000).encode())
    body = pushed.update_main(commit.id) + pack_of(*objects)
    before = pushed.refs()
    host, port = live_server.removeprefix("http://").split(":")
    head = (
        f"POST /alice/project.git/git-receive-pack HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {basic_auth(pushed.repo)}\r\n"
        "Content-Type: application/x-git-receive-pack-request\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        # The server is receiving into quarantine and waits for the rest; hang up on it.
        wait_for(pushed.leftovers, timeout=20, what="the server to start receiving")
    wait_for(lambda: not pushed.leftovers(), timeout=20, what="the quarantine to go")
    assert_unchanged(pushed, before, git)


# --- twenty clients, one branch -------------------------------------------------------------


def test_twenty_concurrent_pushes_to_one_branch_let_exactly_one_win(pushed, git, tmp_path):
    racers = []
    for i in range(20):
        clone = tmp_path / f"racer-{i}"
        git.run("clone", "-q", str(pushed.work), str(clone))
        racers.append((clone, git.commit(clone, {f"racer-{i}.txt": f"{i}\n"}, f"racer {i}")))
    results: list = [None] * len(racers)
    start = threading.Barrier(len(racers))

    def push(i: int) -> None:
        start.wait(timeout=30)
        clone = racers[i][0]
        results[i] = git.run(
            "push", pushed.repo.push_url, "main", cwd=clone, check=False, timeout=60
        )

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(racers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert None not in results
    [winner] = [i for i, result in enumerate(results) if result.returncode == 0]
    for i, result in enumerate(results):
        if i != winner:
            # Refused by git itself (it saw the new main) or by forge's compare-and-swap.
            assert "fetch first" in result.stderr or "non-fast-forward" in result.stderr, (
                result.stderr
            )
    assert pushed.refs()[b"refs/heads/main"] == racers[winner][1].encode()
    assert pushed.leftovers() == []
    clone = tmp_path / "after-the-race"
    git.run("clone", "-q", pushed.repo.url, str(clone))
    git.run("fsck", "--strict", cwd=clone)
    assert git.head(clone) == racers[winner][1]


# --- encodings git uses ---------------------------------------------------------------------


def test_gzip_encoded_upload_pack_request_gets_a_pack(pushed):
    want = pkt(f"want {pushed.base} side-band-64k ofs-delta\n".encode()) + FLUSH
    response = requests.post(
        pushed.repo.url + "/git-upload-pack",
        data=gzip.compress(want + pkt(b"done\n")),
        headers={
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )
    assert response.status_code == 200
    nak, *bands = pkt_lines(response.content)
    assert nak == b"NAK\n"
    pack = b"".join(band[1:] for band in bands if band[:1] == b"\x01")
    assert pack[:4] == b"PACK" and struct.unpack(">I", pack[8:12]) == (3,)  # commit, tree, blob


def test_gzip_bomb_in_upload_pack_is_cut_off_at_the_limit(pushed, app):
    app.extensions["forge.settings"].max_body_bytes = 100_000
    want = pkt(f"want {pushed.base} side-band-64k\n".encode())
    response = requests.post(
        pushed.repo.url + "/git-upload-pack",
        data=gzip.compress(want * 20_000),  # 1 MB inflated, a few kB on the wire
        headers={
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )
    assert pkt_lines(response.content) == [
        b"ERR the request is larger than the limit of 100000 bytes\n"
    ]


def test_chunked_receive_pack_request_is_accepted(pushed, git, tmp_path):
    commit, objects = pushed.next_commit()
    body = pushed.update_main(commit.id) + pack_of(*objects)

    def in_chunks():
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    answer = pushed.push(in_chunks())
    assert answer.report == ["unpack ok", "ok refs/heads/main"]
    assert pushed.refs()[b"refs/heads/main"] == commit.id
    assert pushed.leftovers() == []
    clone = tmp_path / "clone"
    git.run("clone", "-q", pushed.repo.url, str(clone))
    git.run("fsck", "--strict", cwd=clone)
    assert (clone / "README.md").read_text() == "new content\n"


# --- a pack that inflates to far more than it weighs ----------------------------------------


def zero_blob_pack(size: int, base: str) -> tuple[bytes, str]:
    """A pack of a commit on `base` adding a blob of `size` zero bytes, written a MiB at a time
    (1 GiB of zeros is 1 MB at zlib level 9); returns the pack and the commit's id."""
    mib = bytes(1 << 20)
    digest = hashlib.sha1(b"blob %d\0" % size)
    compressor = zlib.compressobj(9)
    compressed = []
    for start in range(0, size, len(mib)):
        chunk = mib[: size - start]
        digest.update(chunk)
        compressed.append(compressor.compress(chunk))
    compressed.append(compressor.flush())
    blob_id = digest.hexdigest()
    tree_data = b"100644 zeros.bin\0" + bytes.fromhex(blob_id)
    tree_id = hashlib.sha1(b"tree %d\0" % len(tree_data) + tree_data).hexdigest().encode()
    commit = make_commit(tree_id, [base.encode()], b"a gigabyte of zeros")
    header, rest = bytearray(), size  # the blob's entry header: type 3, then the size
    byte, rest = (3 << 4) | (rest & 0x0F), rest >> 4
    while rest:
        header.append(byte | 0x80)
        byte, rest = rest & 0x7F, rest >> 7
    header.append(byte)
    entries = raw_pack((2, tree_data, None), (1, commit.as_raw_string(), None))[12:-20]
    body = b"PACK" + struct.pack(">II", 2, 3) + entries + bytes(header) + b"".join(compressed)
    return body + hashlib.sha1(body).digest(), commit.id.decode()


def peak_rss_reset() -> bool:
    """Reset this process's peak resident size (VmHWM), where Linux allows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def test_a_gigabyte_blob_in_a_megabyte_pack_is_refused_from_its_header(pushed, git, tmp_path):
    # The live server runs in this process: its peak memory is this process's.
    pack, commit = zero_blob_pack(1 << 30, pushed.base)
    assert len(pack) < 2_000_000
    # The real git client pushes it: the pack goes into a scratch clone as it is.
    scratch = tmp_path / "scratch"
    git.run("clone", "-q", "--bare", str(pushed.work), str(scratch))
    (tmp_path / "zeros.pack").write_bytes(pack)
    git.run(
        "index-pack",
        "-o",
        str(scratch / "objects/pack/pack-zeros.idx"),
        str(tmp_path / "zeros.pack"),
        cwd=scratch,
    )
    os.replace(tmp_path / "zeros.pack", scratch / "objects/pack/pack-zeros.pack")
    before = pushed.refs()
    objects_before = sorted(p.name for p in (pushed.bare / "objects").rglob("*") if p.is_file())
    peak_rss_reset()
    rss_before = memory_kb("VmRSS")
    refused = git.run(
        "push",
        pushed.repo.push_url,
        f"{commit}:refs/heads/main",
        cwd=scratch,
        check=False,
        timeout=120,
    )
    growth_mb = (memory_kb("VmHWM") - rss_before) / 1024
    assert refused.returncode != 0
    assert (
        "remote: error: a file in the push is 1024 MiB, larger than the limit of 100 MiB"
        in refused.stderr
    ), refused.stderr
    assert "[remote rejected] " in refused.stderr
    assert growth_mb < 200, f"the server grew by {growth_mb:.0f} MB"
    assert sorted(p.name for p in (pushed.bare / "objects").rglob("*") if p.is_file()) == (
        objects_before
    )
    assert_unchanged(pushed, before, git)


# --- negotiation floods ---------------------------------------------------------------------


def upload_pack(pushed: Pushed, body: bytes, timeout: float = 60) -> requests.Response:
    return requests.post(
        pushed.repo.url + "/git-upload-pack",
        data=body,
        headers={"Content-Type": "application/x-git-upload-pack-request"},
        timeout=timeout,
    )


def haves(count: int, sha: str | None = None) -> bytes:
    """`count` have lines: of `sha`, or of made-up ids."""
    if sha is not None:
        return pkt(f"have {sha}\n".encode()) * count
    return b"".join(
        pkt(b"have " + hashlib.sha1(b"%d" % i).hexdigest().encode() + b"\n") for i in range(count)
    )


def test_too_many_have_lines_are_refused_with_an_error_line(pushed):
    from forge.git.fetch import MAX_HAVES

    want = (
        pkt(f"want {pushed.base} multi_ack_detailed side-band-64k thin-pack ofs-delta\n".encode())
        + FLUSH
    )
    response = upload_pack(pushed, want + haves(MAX_HAVES + 1) + FLUSH + pkt(b"done\n"))
    assert pkt_lines(response.content) == [
        f"ERR upload-pack: too many have lines (more than {MAX_HAVES} in one request)\n".encode()
    ]
    # As many as allowed are answered.
    response = upload_pack(pushed, want + haves(MAX_HAVES) + FLUSH + pkt(b"done\n"))
    assert pkt_lines(response.content)[0] == b"NAK\n"


def test_an_oversized_negotiation_or_a_flood_of_flushes_is_refused(pushed):
    want = pkt(f"want {pushed.base} side-band-64k\n".encode()) + FLUSH
    response = upload_pack(pushed, want + pkt(b"x" * 60_000) * 150 + pkt(b"done\n"))
    assert pkt_lines(response.content) == [b"ERR upload-pack: the request is larger than 8 MiB\n"]
    response = upload_pack(pushed, want + FLUSH * 100_000 + pkt(b"done\n"))
    assert pkt_lines(response.content) == [
        b"ERR upload-pack: too many flush packets (more than 16 in one request)\n"
    ]


def test_many_common_haves_under_multi_ack_cost_a_linear_negotiation(pushed, git):
    # A branch unrelated to main: main's commit, sent as a have 40,000 times, never covers it,
    # so dulwich asked after every one of them (40,000 sets of up to 40,000) and walked history.
    git.run("checkout", "-q", "--orphan", "other", cwd=pushed.work)
    other = git.commit(pushed.work, {"other.txt": "unrelated\n"}, "unrelated")
    git.run("push", "-q", pushed.repo.push_url, "other", cwd=pushed.work)
    want = pkt(f"want {other} multi_ack side-band-64k thin-pack ofs-delta\n".encode()) + FLUSH
    # About a second here; 28 s when the cost grew with the square of the lines.
    response = upload_pack(pushed, want + haves(40_000, pushed.base) + pkt(b"done\n"), timeout=20)
    lines = pkt_lines(response.content)
    assert lines[0] == f"ACK {pushed.base} continue\n".encode()
    pack = b"".join(line[1:] for line in lines if line[:1] == b"\x01")
    # The commit, its tree, and both files (README.md came along into the orphan branch).
    assert pack[:4] == b"PACK" and struct.unpack(">I", pack[8:12]) == (4,)


def fast_import_commits(git, work: Path, branch: str, count: int, prefix: str) -> None:
    """`count` commits on `branch` of `work`, one file changed in each, via fast-import."""
    stream = []
    for i in range(count):
        stream.append(
            f"commit refs/heads/{branch}\ncommitter T <t@example.org> {1_700_000_000 + i} +0000\n"
            f"data <<END\n{prefix} {i}\nEND\n"
            + (f"from refs/heads/{branch}^0\n" if i == 0 else "")
            + f"M 644 inline {prefix}.txt\ndata <<END\n{prefix} {i}\nEND\n\n"
        )
    git.run("fast-import", "--quiet", cwd=work, input="".join(stream))


def test_fetch_after_hundreds_of_local_commits_still_works(pushed, git, tmp_path):
    fast_import_commits(git, pushed.work, "main", 300, "history")
    git.run("push", "-q", pushed.repo.push_url, "main", cwd=pushed.work)
    clone = tmp_path / "clone"
    git.run("clone", "-q", pushed.repo.url, str(clone))
    # The server moves on, and the clone makes 400 commits of its own on two branches: the
    # fetch sends them as haves, round after round.
    git.run("reset", "-q", "--hard", "main", cwd=pushed.work)
    upstream = git.commit(pushed.work, {"upstream.txt": "new upstream\n"}, "upstream")
    git.run("push", "-q", pushed.repo.push_url, "main", cwd=pushed.work)
    fast_import_commits(git, clone, "main", 200, "local")
    git.run("branch", "-q", "side", "main~100", cwd=clone)
    fast_import_commits(git, clone, "side", 200, "side")
    git.run("fetch", "-q", "origin", cwd=clone, timeout=120)
    assert git.head(clone, "origin/main") == upstream
    git.run("fsck", "--strict", cwd=clone)


def varint(value: int) -> bytes:
    """A delta header's size: 7 bits a byte, least significant first."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def test_a_delta_declaring_a_gigabyte_result_is_refused_before_it_is_applied(pushed, git):
    readme = Blob.from_string(b"# project\n")
    delta = varint(len(readme.data)) + varint(1 << 30) + b"\x01x"
    commit, _objects = pushed.next_commit()
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + raw_pack((REF_DELTA, delta, readme.id)))
    assert answer.report[1:] == ["ng refs/heads/main rejected"]
    assert (
        "error: an object in the push is 1024 MiB once its delta is applied, "
        "larger than the limit of 100 MiB" in answer.remote
    )
    assert_unchanged(pushed, before, git)


def test_an_entry_inflating_past_its_declared_size_is_stopped_there(pushed, git):
    commit, _objects = pushed.next_commit()
    # The header says 10 bytes; the stream holds 64 MiB of zeros.
    header = bytes([(3 << 4) | 10])
    compressor = zlib.compressobj(9)
    stream = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    body = b"PACK" + struct.pack(">II", 2, 1) + header + stream
    before = pushed.refs()
    answer = pushed.push(pushed.update_main(commit.id) + body + hashlib.sha1(body).digest())
    assert answer.report[1:] == ["ng refs/heads/main unpacker error"]
    assert "decompressed data exceeds expected size" in answer.remote
    assert_unchanged(pushed, before, git)


# --- a pack large enough to be resolved in several processes ---------------------------------


@pytest.mark.parametrize("bad_tree", ["first", "last"])
def test_a_bad_tree_is_refused_whichever_process_resolves_it(pushed, git, bad_tree):
    # A pack of PARALLEL_MIN_OBJECTS objects or more is resolved in shares, one per core
    # (forge.git.index_pack): of two trees, each with nothing resting on it, one is in this
    # process's share and the other in a helper's.
    before = pushed.refs()
    blobs = [Blob.from_string(b"file %d\n" % n) for n in range(index_pack.PARALLEL_MIN_OBJECTS)]
    good_data, good_tree = raw_tree(b"README.md", blobs[0])
    bad_data, bad_tree_id = raw_tree(b".git", blobs[1], b".gitignore")
    trees = [(Tree.type_num, good_data, None), (Tree.type_num, bad_data, None)]
    if bad_tree == "first":
        trees.reverse()
    commit = make_commit(good_tree, [pushed.base.encode()])
    pack = raw_pack(
        *((Blob.type_num, blob.as_raw_string(), None) for blob in blobs),
        *trees,
        (Commit.type_num, commit.as_raw_string(), None),
    )
    answer = pushed.push(pushed.update_main(commit.id) + pack)
    processes = min(len(os.sched_getaffinity(0)), index_pack.MAX_PROCESSES)
    count = len(blobs) + 3
    told = f"Resolving deltas of {count} objects" + (
        f" in {processes} processes." if processes > 1 else "."
    )
    assert told in answer.remote
    problem = f"object {bad_tree_id.decode()}: hasDotgit: {MESSAGES['hasDotgit'][1]}"
    assert problem in answer.report[0] and problem in answer.remote
    assert answer.report[1:] == ["ng refs/heads/main rejected"]
    assert_unchanged(pushed, before, git)


def test_a_delta_on_no_entry_of_a_large_pack_is_refused(pushed, git):
    # Each delta tree is shared out from a whole object down; a delta whose base offset
    # lands inside another entry is in no tree, and must refuse the pack, not be left out.
    before = pushed.refs()
    body = bytearray()
    count = index_pack.PARALLEL_MIN_OBJECTS
    for n in range(count):
        data = b"file %d\n" % n
        body += bytes([(Blob.type_num << 4) | len(data)]) + zlib.compress(data)
    delta = bytes([5, 3, 3]) + b"abc"  # base of 5 bytes, result of 3: insert "abc"
    distance = 12 + len(body) - 13  # back to the second byte of the first entry
    encoded = [distance & 0x7F]
    while distance := distance >> 7:
        distance -= 1
        encoded.insert(0, 0x80 | (distance & 0x7F))
    body += bytes([(6 << 4) | len(delta)]) + bytes(encoded) + zlib.compress(delta)
    pack = b"PACK" + struct.pack(">II", 2, count + 1) + bytes(body)
    pack += hashlib.sha1(pack).digest()
    answer = pushed.push(pushed.update_main(b"1" * 40) + pack)
    assert answer.report == ["unpack error bad pack", "ng refs/heads/main unpacker error"]
    assert "error: the pack could not be read" in answer.remote
    assert_unchanged(pushed, before, git)
