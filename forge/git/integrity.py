"""Checks on objects received in a push, before any ref may point at them.

Like `git fsck` on the incoming objects: each object parses and is well-formed, every object
it names exists (in the push or already in the repository), tree entries cannot escape or
poison a checkout (`.git` in any spelling a filesystem folds to it, `..`, `/`), and no blob
is larger than the limit. Each problem is named by git's fsck msg-id and weighed by
`forge.git.fsck`: an error refuses the push, a warning is collected for the pusher to see.
Missing objects and oversized blobs have no msg-id (git refuses them outside fsck too) and
are always refused.
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from dulwich.object_format import SHA1
from dulwich.object_store import DiskObjectStore
from dulwich.objects import (
    Blob,
    Commit,
    ObjectFormatException,
    ShaFile,
    Tag,
    Tree,
    _parse_message,
    check_hexsha,
    check_identity,
    check_time,
    parse_tree,
)

from forge.git.fsck import ERROR, IGNORE, MESSAGES, FsckPolicy
from forge.git.storage import open_packs

GITLINK_MODE = 0o160000
# Characters HFS+ ignores in names, so ".g\u200cit" is ".git" on a Mac.
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


class IntegrityError(Exception):
    """The pushed objects are broken or dangerous; the message says which and why."""


def dangerous_name(name: bytes) -> str | None:
    """The msg-id of why a checkout must not write this tree entry, or None for a plain
    file or folder name."""
    # Nearly every name is plain ASCII that cannot fold to ".git", "..", "git~1" or a path:
    # answer those without the Unicode work below (10,000 entries in a 100-commit push).
    if (
        name.strip(b" ")  # only spaces: nothing once Windows drops them
        and name.isascii()
        and name[:1] != b"."
        and not any(c in name for c in b"~/\\\0")
    ):
        return None
    if not name:
        return "emptyName"
    text = name.decode("utf-8", "replace")
    if "/" in text or "\0" in text:
        return "fullPathname"
    folded = unicodedata.normalize("NFC", text.translate(_HFS_IGNORED)).lower()
    # Windows drops trailing dots and spaces, reads "\\" as a separator, "git~1" is the 8.3
    # short name of ".git", and NTFS reads ".git::$INDEX_ALLOCATION" or ".git:x" as a stream
    # of ".git" itself (CVE-2019-1352): only what comes before a ":" names the file.
    for part in folded.split("\\"):
        stripped = part.split(":", 1)[0].rstrip(". ")
        if stripped in (".git", "git~1"):
            return "hasDotgit"
        if not stripped:  # "..", ".", "...", ". ", or an empty part of "a\\\\b"
            return "hasDotdot" if part.startswith("..") else "hasDot"
    return None


def is_dangerous_name(name: bytes) -> bool:
    """Would a checkout write this tree entry somewhere other than a plain file or folder?"""
    return dangerous_name(name) is not None


@dataclass
class FsckWarning:
    """A problem the push's settings let through: `object <sha>: <msgId>: <message>`."""

    sha: str
    msg_id: str
    message: str

    def __str__(self) -> str:
        return f"object {self.sha}: {self.msg_id}: {self.message}"


class ObjectChecker:
    """Checks a push's objects as they are read (`inspect`), is told which objects the push
    holds (`received`), then checks that what they name exists (`finish`).

    Problems the policy lets through are kept in `warnings` (the first `MAX_WARNINGS` of
    them; `warning_count` counts them all) for the pusher to be shown.
    """

    MAX_WARNINGS = 100

    def __init__(self, max_object_bytes: int, policy: FsckPolicy | None = None):
        self.max_object_bytes = max_object_bytes
        self.policy = policy or FsckPolicy()
        self.warnings: list[FsckWarning] = []
        self.warning_count = 0
        self.checked = 0
        # Every object named (unchanged subtrees are named by every commit). Only the names are
        # kept, once each, at C speed: who named a missing one is looked for only when one is
        # missing. Keeping each tree's list of names cost git.git's push 4 GB (30 million
        # entries, most naming the same objects).
        self.named: set[bytes] = set()

    def report(self, sha: bytes, msg_id: str, detail: str = "") -> None:
        """One problem with object `sha`: refused (IntegrityError) if the policy says error."""
        severity = self.policy.severity(msg_id)
        if severity == IGNORE:
            return
        message = MESSAGES[msg_id][1] + (f" ({detail})" if detail else "")
        problem = FsckWarning(sha.decode(), msg_id, message)
        if severity == ERROR:
            raise IntegrityError(str(problem))
        self.warning_count += 1
        if len(self.warnings) < self.MAX_WARNINGS:
            self.warnings.append(problem)

    def absorb(self, other: ObjectChecker) -> None:
        """Take in what the checker of another share of the same push found
        (`forge.git.index_pack`)."""
        self.named |= other.named
        room = max(self.MAX_WARNINGS - len(self.warnings), 0)
        self.warnings.extend(other.warnings[:room])
        self.warning_count += other.warning_count

    def inspect(self, sha: bytes, kind: int, chunks: list[bytes]) -> None:
        """Check one object of the push (hex `sha`, its type and content)."""
        # Blobs need only their size, and trees are parsed here once: no dulwich objects
        # are built for either, which are most of a push.
        if kind == Blob.type_num:
            size = sum(map(len, chunks))
            if size > self.max_object_bytes:
                raise IntegrityError(
                    f"file {sha.decode()[:12]} is {format_size(size)}, "
                    f"larger than the limit of {format_size(self.max_object_bytes)}"
                )
        elif kind == Tree.type_num:
            _names, modes, shas = _tree_columns(self, sha, b"".join(chunks))
            if GITLINK_MODE in modes:  # a submodule's commit lives elsewhere
                shas = tuple(s for s, m in zip(shas, modes, strict=True) if m != GITLINK_MODE)
            self.named.update(shas)
        elif kind == Tag.type_num:
            self.named.add(_check_tag(self, sha, chunks))
        else:
            try:
                obj = ShaFile.from_raw_chunks(kind, chunks, sha)
            except _UNPARSEABLE as exc:
                self.report(sha, "badObject", str(exc))
            try:
                obj.check()
            except _UNPARSEABLE as exc:  # IndexError: dulwich's check of an empty identity
                # Returns only for what a setting may let through, an author's or
                # committer's line: dulwich checked the tree and parents before those.
                self.report(sha, _commit_problem(obj, str(exc)), str(exc))
            if isinstance(obj, Commit):
                self.named.add(obj.tree)
                self.named.update(obj.parents)

    def received(self, shas: Iterable[bytes]) -> None:
        """The hex ids of objects the push holds, all checked: what they name is there.

        Told once the pack is resolved, not object by object: a set of every pushed id
        beside the names cost git.git's push 45 MB per process resolving it."""
        counter = itertools.count()  # zip takes one more only while there are shas
        self.named.difference_update(sha for sha, _ in zip(shas, counter, strict=False))
        self.checked += next(counter)

    def finish(self, incoming: DiskObjectStore, existing, tips: list[str]) -> int:
        """Check that everything named, and every pushed tip, exists; returns how many
        objects the push had."""
        # Pack indexes are asked directly: dulwich's `sha in store` rescans the pack directory
        # and stats a loose file on every call, which cost 0.35 s on a push of 100 commits.
        indexes = [pack.index for pack in (*open_packs(existing), *open_packs(incoming))]

        def exists(sha: bytes) -> bool:
            for index in indexes:
                try:
                    index.object_offset(sha)
                    return True
                except KeyError:
                    continue
            return sha in incoming or sha in existing  # loose objects

        missing = {sha for sha in self.named if not exists(sha)}
        if missing:
            raise IntegrityError(_missing_message(incoming, missing))
        for tip in tips:
            if not exists(tip.encode()):
                raise IntegrityError(f"the pushed object {tip[:12]} is missing")
        # The checker outlives the check (the push goes on to move refs): let the names go.
        self.named = set()
        return self.checked


def _missing_message(incoming: DiskObjectStore, missing: set[bytes]) -> str:
    """Which pushed object names one of the `missing` ones, and as what: looked for in the
    pushed objects again, as refusing a push is the rare case and remembering every object's
    names for it was not cheap."""
    for pack in open_packs(incoming):
        for obj in pack.iterobjects():
            if isinstance(obj, Commit):
                named = [("tree", obj.tree), *(("parent", parent) for parent in obj.parents)]
            elif isinstance(obj, Tree):
                named = [("tree entry", entry.sha) for entry in obj.iteritems()]
            elif isinstance(obj, Tag):
                named = [("tagged object", obj.object[1])]
            else:
                continue
            for what, sha in named:
                if sha in missing:
                    namer, named_sha = obj.id.decode()[:12], sha.decode()[:12]
                    return f"object {namer} names a missing {what} {named_sha}"
    return f"the push names a missing object {min(missing).decode()[:12]}"


def format_size(size: int) -> str:
    """A size for a message: whole MiB stay whole ("100 MiB"); below 1 MiB, in bytes.

    (Whole MiB alone printed a 5 kB file over a 1 kB limit as "0 MiB, larger than 0 MiB".)
    """
    mib = 1024 * 1024
    if size < mib:
        return f"{size} bytes"
    return f"{size // mib} MiB" if size % mib == 0 else f"{size / mib:.1f} MiB"


# The modes git writes; `git fsck` accepts 100664 from old versions too.
_TREE_MODES = frozenset({0o100755, 0o100644, 0o120000, 0o040000, GITLINK_MODE, 0o100664})


def _plainly_fine(names: tuple[bytes, ...], modes: tuple[int, ...], raw_length: int) -> bool:
    """True when the whole tree passes the checks below, judged a tree at a time rather than
    an entry at a time (git.git's history has 30 million entries): known modes written
    without leading zeros, plain ASCII names that cannot fold to ".git", "..", "git~1" or a
    path, strictly in git's order with no name twice. False means "look closer", not "bad".

    Every step runs over the whole tree at C speed (`map`, `count`, one regular expression);
    only names starting with a dot (".gitignore", a few a tree) are looked at one by one."""
    if not names:
        return True
    if not _TREE_MODES.issuperset(modes) or b"" in names:
        return False
    # Each entry is "<mode> <name>\0<20 bytes>", every mode six digits but a folder's five:
    # any other length has a zero-padded mode.
    folders = modes.count(0o040000)
    if sum(map(len, names)) + 28 * len(names) - folders != raw_length:
        return False
    joined = b"\0" + b"\0".join(names)  # a name cannot hold a NUL
    if not joined.isascii() or b"~" in joined or b"/" in joined or b"\\" in joined:
        return False
    if any(map(dangerous_name, _DOT_NAME.findall(joined))):
        return False
    # git sorts a folder as if its name ended in "/".
    keys = (
        list(map(operator.add, names, map(_SORT_SUFFIX.__getitem__, modes))) if folders else names
    )
    return all(map(operator.lt, keys, keys[1:])) and not any(map(operator.eq, names, names[1:]))


# Names starting with a dot, in the NUL-separated names: a pattern starting with a plain
# byte is searched for at C speed, where one starting with a choice was tried at each byte.
_DOT_NAME = re.compile(rb"\0(\.[^\0]*)")
_SORT_SUFFIX = {mode: b"/" if mode == 0o040000 else b"" for mode in _TREE_MODES}


def _tree_columns(
    checker: ObjectChecker, sha: bytes, raw: bytes
) -> tuple[tuple[bytes, ...], tuple[int, ...], tuple[bytes, ...]]:
    """The tree's entries as three columns (names, modes, hex shas), checked as `git fsck`
    checks a tree (format, names, modes, order, duplicates), each problem reported under
    git's msg-id."""
    try:
        # Not strict: dulwich's strict parse refuses a zero-padded mode, which git reads.
        entries = parse_tree(raw, SHA1.oid_length, strict=False)
    except (ObjectFormatException, ValueError) as exc:
        checker.report(sha, "badTree", str(exc))
        raise AssertionError("badTree is always refused") from None
    if not entries:
        return (), (), ()
    names, modes, shas = zip(*entries, strict=True)
    if _plainly_fine(names, modes, len(raw)):
        return names, modes, shas
    dangerous: dict[str, bytes] = {}
    bad_modes: list[int] = []
    padded = unsorted = duplicate = False
    last_key = last_name = None
    position = 0
    for name, mode, _entry_sha in entries:
        msg_id = dangerous_name(name)
        if msg_id is not None:
            dangerous.setdefault(msg_id, name)
        if mode not in _TREE_MODES:
            bad_modes.append(mode)
        padded = padded or raw[position : position + 1] == b"0"
        position = raw.index(b"\0", position) + 1 + SHA1.oid_length
        key = name + b"/" if mode == 0o040000 else name
        if last_key is not None:
            if name == last_name:
                duplicate = True
            elif last_key > key:
                unsorted = True
        last_key, last_name = key, name
    # In git's order (fsck.c, fsck_tree), so the same push is refused under the same id.
    for msg_id in ("fullPathname", "emptyName", "hasDot", "hasDotdot", "hasDotgit"):
        if msg_id in dangerous:
            shown = dangerous[msg_id].decode("utf-8", "replace")
            checker.report(
                sha, msg_id, f"an entry named {shown!r}, which a checkout must not write"
            )
    if padded:
        checker.report(sha, "zeroPaddedFilemode")
    if bad_modes:
        checker.report(sha, "badFilemode", ", ".join(sorted({f"{m:06o}" for m in bad_modes})))
    if duplicate:
        checker.report(sha, "duplicateEntries")
    if unsorted:
        checker.report(sha, "treeNotSorted")
    return names, modes, shas


def _identity_problem(identity: bytes | None) -> str:
    """git's msg-id for an author, committer or tagger line dulwich refused (fsck_ident)."""
    if not identity:
        return "missingEmail"
    less, more = identity.find(b"<"), identity.find(b">")
    if more != -1 and (less == -1 or more < less):
        return "badName"
    if less == -1:
        return "missingEmail"
    if less == 0:
        return "missingNameBeforeEmail"
    if identity[less - 1 : less] != b" ":
        return "missingSpaceBeforeEmail"
    if more == -1 or b"<" in identity[less + 1 : more]:
        return "badEmail"
    return "badName"  # something after the email, or a NUL or newline in it


_COMMIT_PROBLEMS = {
    "missing tree": "missingTree",
    "unexpected tree": "missingTree",
    "invalid tree sha": "badTreeSha1",
    "invalid parent sha": "badParentSha1",
    "unexpected parent": "badParentSha1",
    "missing author": "missingAuthor",
    "missing author time": "missingAuthor",
    "unexpected author": "missingAuthor",
    "missing committer": "missingCommitter",
    "missing commit time": "missingCommitter",
    "unexpected committer": "missingCommitter",
}


def _commit_problem(commit: ShaFile, error: str) -> str:
    """git's msg-id for what dulwich found wrong with a commit (badObject when it has none)."""
    if error in _COMMIT_PROBLEMS:
        return _COMMIT_PROBLEMS[error]
    if error == "invalid author":
        return _identity_problem(commit._author)
    if error == "invalid committer":
        return _identity_problem(commit._committer)
    if "overflow" in error or "out of range" in error:
        return "badDateOverflow"
    return "badObject"


# What dulwich raises on bytes it cannot read as a commit or tag at all.
_UNPARSEABLE = (ObjectFormatException, ValueError, KeyError, IndexError, TypeError)

_TAG_TYPES = frozenset({b"commit", b"tree", b"blob", b"tag"})


def _check_tag(checker: ObjectChecker, sha: bytes, chunks: list[bytes]) -> bytes:
    """Check a tag as `git fsck` does (fsck_tag); returns the hex id of what it tags.

    Not dulwich's Tag.check, which refuses a tag without a tagger: git's own v0.99 is one
    (missingTaggerEntry, a note in git's eyes).
    """
    try:
        tag = ShaFile.from_raw_chunks(Tag.type_num, chunks, sha)
        headers = [name for name, _value in _parse_message(chunks)]
        tag.object  # noqa: B018 - parses the tag, raising on what cannot be read at all
    except _UNPARSEABLE as exc:
        checker.report(sha, "badObject", str(exc))
        raise AssertionError("badObject is always refused") from None
    order = [h for h in headers if h in (b"object", b"type", b"tag", b"tagger")]
    if order[:1] != [b"object"] or tag._object_sha is None:
        checker.report(sha, "missingObject")
    try:
        check_hexsha(tag._object_sha, "bad sha")
    except ObjectFormatException:
        checker.report(sha, "badObjectSha1")
    if order[1:2] != [b"type"] or tag._object_class is None:
        checker.report(sha, "missingTypeEntry")
    elif getattr(tag._object_class, "type_name", None) not in _TAG_TYPES:
        checker.report(sha, "badType")
    if order[2:3] != [b"tag"] or tag._name is None:
        checker.report(sha, "missingTagEntry")
    elif not tag._name:
        checker.report(sha, "badTagName", "empty")
    if order[3:4] != [b"tagger"] or tag._tagger is None:
        checker.report(sha, "missingTaggerEntry")
    else:
        try:
            check_identity(tag._tagger, "bad tagger")
        except (ObjectFormatException, IndexError):  # IndexError: an empty tagger
            checker.report(sha, _identity_problem(tag._tagger))
        if tag._tag_time is None:
            checker.report(sha, "badDate")
        else:
            try:
                check_time(tag._tag_time)
            except ObjectFormatException:
                checker.report(sha, "badDateOverflow")
    return tag._object_sha
