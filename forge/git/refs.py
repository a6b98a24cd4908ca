"""Refs: name rules (as `git check-ref-format`), atomic, locked ref updates, and reading many
refs at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from dulwich.file import GitFile
from dulwich.refs import write_packed_refs
from dulwich.repo import Repo

from forge.cache import LRU

_FORBIDDEN_CHARS = set(" ~^:?*[\\\x7f")


def check_ref_name(ref: str, creating: bool = True) -> str:
    """Raise ValueError unless `ref` is a well-formed full ref name such as refs/heads/main.

    Well-formed is `git check-ref-format`'s rules; a ref being created (`creating`) must also
    pass GitHub's refusals: its name below refs/KIND/ is not `HEAD` (git would read it as the
    symbolic HEAD) and does not start with '-' (a command line would read it as an option).
    A ref that exists already may still be moved or deleted whatever its name.
    """
    if not ref or len(ref) > 255:
        raise ValueError("ref names must have 1 to 255 characters")
    if not ref.startswith("refs/"):
        raise ValueError(f"ref {ref!r} must start with refs/")
    problem = _problem(ref) or (_refused_name(ref) if creating else None)
    if problem:
        raise ValueError(f"invalid ref name {ref!r}: {problem}")
    return ref


def _refused_name(ref: str) -> str | None:
    short = ref.split("/", 2)[-1]  # refs/heads/x -> x, refs/x -> x
    if short == "HEAD":
        return "a branch or tag may not be named HEAD"
    if short.startswith("-"):
        return "a branch or tag name may not start with '-'"
    return None


def check_branch_name(branch: str) -> str:
    if not isinstance(branch, str) or not branch or len(branch) > 200:
        raise ValueError("a branch name must have 1 to 200 characters")
    ref = "refs/heads/" + branch
    problem = _problem(ref) or _refused_name(ref)
    if problem:
        raise ValueError(f"invalid branch name {branch!r}: {problem}")
    return branch


def _problem(ref: str) -> str | None:
    if any(ord(c) < 0x20 or c in _FORBIDDEN_CHARS for c in ref):
        return "it contains a space, control character or one of ~^:?*[\\"
    if "@{" in ref or ref == "@":
        return "it contains @{"
    if ref.endswith("/") or ref.endswith(".") or "//" in ref:
        return "it has an empty component or ends with '/' or '.'"
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "a component starts with '.' or ends with '.lock'"
    if ".." in ref:
        return "it contains '..'"
    return None


ZERO = "0" * 40


@dataclass
class RefUpdate:
    """One requested change of a ref: from `old` to `new` (all zeros for none)."""

    ref: str
    old: str
    new: str

    @property
    def created(self) -> bool:
        return self.old == ZERO

    @property
    def deleted(self) -> bool:
        return self.new == ZERO

    @property
    def branch(self) -> str | None:
        return self.ref[len("refs/heads/") :] if self.ref.startswith("refs/heads/") else None

    @property
    def tag(self) -> str | None:
        return self.ref[len("refs/tags/") :] if self.ref.startswith("refs/tags/") else None


class StaleRef(Exception):
    """A ref no longer has the value the update expected (someone else moved it first)."""


_held = threading.local()


@contextmanager
def locked_refs(repo: Repo):
    """Hold the repository's ref lock: one ref transaction at a time per repository.

    Re-entrant within a thread: an action that runs while a push holds the lock (such as
    recording a change's new patch set) may take it again. flock alone would deadlock there,
    as a second descriptor of the same file waits for the first.
    """
    path = os.path.join(repo.controldir(), "forge-refs.lock")
    held = _held.__dict__.setdefault("paths", {})
    if path in held:
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        held[path] = 1
        try:
            yield
        finally:
            del held[path]
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_value(repo: Repo, ref: str) -> str:
    """The id `ref` holds, ZERO when there is no such ref."""
    value = _loose_or_packed(repo, ref)
    if value is not None:
        return value.decode() if value else ZERO
    try:
        return repo.refs[ref.encode()].decode()  # symbolic, or an odd file: dulwich follows it
    except KeyError:
        return ZERO


def apply_updates(repo: Repo, updates: list[RefUpdate]) -> None:
    """Apply all updates or none: each ref must still hold its expected old value.

    The caller holds `locked_refs`, so no other forge process moves refs in between.
    """
    for update in updates:
        actual = current_value(repo, update.ref)
        if actual != update.old:
            raise StaleRef(
                f"{update.ref} moved (expected {update.old[:12]}, found {actual[:12]}); fetch first"
            )
    # Before the refs move: a clone that read the old tips and asks for them between the
    # move and this note would be told its want is invalid.
    _remember_tips(repo, [u.old for u in updates if u.old != ZERO])
    done: list[RefUpdate] = []
    try:
        for update in updates:
            name = update.ref.encode()
            if update.deleted:
                ok = repo.refs.remove_if_equals(name, update.old.encode())
            elif update.created:
                ok = repo.refs.add_if_new(name, update.new.encode())
            else:
                ok = repo.refs.set_if_equals(name, update.old.encode(), update.new.encode())
            if not ok:
                raise StaleRef(f"{update.ref} changed while it was being updated")
            done.append(update)
    except BaseException:
        _undo(repo, done)
        raise


# --- tips a fetch may still ask for -------------------------------------------------------------
# git over HTTP fetches in two requests: the refs (GET info/refs), then the wants (POST
# upload-pack). A push between the two moves a ref, and the client then wants the tip it was
# shown, which is no longer any ref's value: C git's upload-pack, stateless, still serves a want
# reachable from a ref; forge serves one that was a ref's value within RECENT_TIP_SECONDS (it
# was shown to a reader of this repository a moment ago, and its objects are still there).

RECENT_TIP_SECONDS = 600
RECENT_TIPS_FILE = "forge-recent-tips"
_MAX_RECENT_TIPS = 1000


def _remember_tips(repo: Repo, shas: list[str]) -> None:
    """Note tips just replaced (called under the ref lock, so one writer at a time)."""
    if not shas:
        return
    path = os.path.join(repo.controldir(), RECENT_TIPS_FILE)
    now = int(time.time())
    kept = [line for line in _read_tips(path) if now - line[0] <= RECENT_TIP_SECONDS]
    kept = (kept + [(now, sha) for sha in shas])[-_MAX_RECENT_TIPS:]
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.writelines(f"{when} {sha}\n" for when, sha in kept)
    os.replace(tmp, path)


def recent_tips(repo: Repo) -> set[str]:
    """The tips replaced within RECENT_TIP_SECONDS."""
    now = int(time.time())
    path = os.path.join(repo.controldir(), RECENT_TIPS_FILE)
    return {sha for when, sha in _read_tips(path) if now - when <= RECENT_TIP_SECONDS}


def _read_tips(path: str) -> list[tuple[int, str]]:
    try:
        with open(path) as tips:
            lines = [line.split() for line in tips]
    except FileNotFoundError:
        return []
    return [
        (int(w), s) for w, s in (x for x in lines if len(x) == 2) if w.isdigit() and len(s) == 40
    ]


def undo_updates(repo: Repo, updates: list[RefUpdate]) -> list[RefUpdate]:
    """Move back those of `updates` that hold their new value: applied, but what had to be
    recorded with them could not be (the database went away before its commit)."""
    with locked_refs(repo):
        landed = [u for u in updates if u.new != u.old and current_value(repo, u.ref) == u.new]
        _remember_tips(repo, [u.new for u in landed if u.new != ZERO])  # shown meanwhile
        _undo(repo, landed)
    return landed


def _undo(repo: Repo, done: list[RefUpdate]) -> None:
    for update in reversed(done):
        name = update.ref.encode()
        if update.created:
            repo.refs.remove_if_equals(name, update.new.encode())
        else:
            repo.refs.set_if_equals(
                name, None if update.deleted else update.new.encode(), update.old.encode()
            )


# --- packed refs ---------------------------------------------------------------------------------
# Every push writes its refs as loose files, one per ref; reading a repository's refs (every
# page's branch list, every fetch's advertisement) opened each. Maintenance folds them into
# packed-refs, as `git pack-refs --all` does, once there are this many.

LOOSE_REFS_TO_PACK = 32


def pack_refs(repo: Repo, at_least: int = LOOSE_REFS_TO_PACK) -> int:
    """Fold the loose refs under refs/ into packed-refs once there are `at_least`; how many.

    As git does it: the new packed-refs (with tags' peeled values) replaces the old one
    first, then each loose file still holding what was packed is removed, so a reader sees
    every ref at every moment. Under the ref lock, so no push moves a ref meanwhile.
    """
    top = os.path.join(repo.controldir(), "refs")
    if sum(len(files) for _root, _dirs, files in os.walk(top)) < at_least:
        return 0
    with locked_refs(repo):
        loose: dict[bytes, bytes] = {}
        for root, _dirs, files in os.walk(top):
            for file_name in files:
                if file_name.endswith(".lock"):
                    continue
                path = os.path.join(root, file_name)
                name = os.path.relpath(path, repo.controldir()).replace(os.sep, "/").encode()
                with open(path, "rb") as ref_file:
                    content = ref_file.read().strip()
                if len(content) == 40 and not content.startswith(b"ref: "):
                    loose[name] = content
        packed = {**repo.refs.get_packed_refs(), **loose}
        peeled = {}
        for name, sha in packed.items():
            with contextlib.suppress(KeyError):
                target = peel(repo, sha.decode()).encode()
                if target != sha:
                    peeled[name] = target
        with GitFile(os.path.join(repo.controldir(), "packed-refs"), "wb") as packed_file:
            write_packed_refs(packed_file, packed, peeled)
        for name, sha in loose.items():
            path = os.path.join(repo.controldir(), name.decode())
            with open(path, "rb") as ref_file:
                still = ref_file.read().strip() == sha
            if still:
                os.remove(path)
    return len(loose)


def list_refs(repo: Repo, prefix: str) -> list[tuple[str, str]]:
    """(full ref name, sha) of every ref under `prefix`, sorted by name."""
    refs = repo.refs.as_dict(prefix.encode().rstrip(b"/"))
    base = prefix.rstrip("/") + "/"
    return sorted((base + name.decode(), sha.decode()) for name, sha in refs.items())


def peel(repo: Repo, sha: str) -> str:
    """The commit a ref points at, following annotated tags."""
    obj = repo.object_store[sha.encode()]
    while obj.type_name == b"tag":
        obj = repo.object_store[obj.object[1]]
    return obj.id.decode()


def is_ancestor(repo: Repo, ancestor: str, descendant: str) -> bool:
    """Would moving a ref from `ancestor` to `descendant` be a fast-forward?"""
    from dulwich.graph import can_fast_forward

    return can_fast_forward(repo, ancestor.encode(), descendant.encode())


# --- reading many refs --------------------------------------------------------------------------
# dulwich's `refs.as_dict` tries a loose file for every ref, then looks it up in packed-refs:
# under load that was an eighth of the web workers' CPU, for pages that list a repository's
# 200 branches and tags. Here packed-refs is parsed once per version of the file (it is
# replaced whole) and only the loose files that exist are read.

_PACKED = LRU(16 * 1024 * 1024, weigh=lambda refs: 200 + 150 * len(refs))
_HEX = frozenset(b"0123456789abcdef")


def ref_values(repo: Repo, base: bytes) -> dict[bytes, bytes]:
    """The refs under `base` (b"refs/heads"), named below it, with the ids they hold: what
    dulwich's `repo.refs.as_dict(base)` answers, for which it stays the fallback (a symbolic
    ref, an odd file)."""
    control = repo.controldir()
    prefix = base + b"/"
    found = {
        name[len(prefix) :]: sha
        for name, sha in _packed_refs(os.path.join(control, "packed-refs")).items()
        if name.startswith(prefix)
    }
    top = os.path.join(control, os.fsdecode(base))
    for folder, _folders, files in os.walk(top):
        for file in files:
            if file.endswith(".lock"):
                continue  # a ref being written: its file holds the value until the rename
            path = os.path.join(folder, file)
            try:
                with open(path, "rb") as loose:
                    value = loose.read(64).rstrip(b"\n")
            except (FileNotFoundError, IsADirectoryError):
                continue  # deleted meanwhile; packed-refs says whether it still exists
            if len(value) != 40 or not _HEX.issuperset(value):
                return repo.refs.as_dict(base)
            found[os.fsencode(os.path.relpath(path, top))] = value
    return found


def _loose_or_packed(repo: Repo, ref: str) -> bytes | None:
    """A plain ref's id as git reads it, its loose file first, then packed-refs (parsed once
    per version); b"" when neither has it, None when its file holds no plain id (dulwich
    then reads it)."""
    if not ref.startswith("refs/") or "/." in ref:
        return None  # HEAD (symbolic), or a name no ref may have: dulwich's reading
    control = repo.controldir()
    try:
        with open(os.path.join(control, ref), "rb") as loose:
            value = loose.read(64).rstrip(b"\n")
    except FileNotFoundError:
        return _packed_refs(os.path.join(control, "packed-refs")).get(ref.encode(), b"")
    except (IsADirectoryError, NotADirectoryError):
        return None
    return value if len(value) == 40 and _HEX.issuperset(value) else None


def _packed_refs(path: str) -> dict[bytes, bytes]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}
    key = (path, info.st_ino, info.st_mtime_ns, info.st_size)

    def parse() -> dict[bytes, bytes]:
        refs = {}
        with open(path, "rb") as packed:
            for line in packed:
                if line[:1] in (b"#", b"^"):  # the header, a tag's peeled value
                    continue
                sha, _, name = line.rstrip(b"\n").partition(b" ")
                if len(sha) == 40 and name:
                    refs[name] = sha
        return refs

    return _PACKED.get_or_compute(key, parse)
