"""Checks on objects received in a push, before any ref may point at them.

Like `git fsck` on the incoming objects: each object parses and is well-formed, every object
it names exists (in the push or already in the repository), tree entries cannot escape or
poison a checkout (`.git` in any spelling a filesystem folds to it, `..`, `/`), and no blob
is larger than the limit.
"""

from __future__ import annotations

import unicodedata

from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, ObjectFormatException, Tag, Tree
from dulwich.pack import PackInflater

GITLINK_MODE = 0o160000
# Characters HFS+ ignores in names, so ".g\u200cit" is ".git" on a Mac.
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


class IntegrityError(Exception):
    """The pushed objects are broken or dangerous; the message says which and why."""


def is_dangerous_name(name: bytes) -> bool:
    """Would a checkout write this tree entry somewhere other than a plain file or folder?"""
    # Nearly every name is plain ASCII that cannot fold to ".git", "..", "git~1" or a path:
    # answer those without the Unicode work below (10,000 entries in a 100-commit push).
    if name and name.isascii() and name[:1] != b"." and not any(c in name for c in b"~/\\\0"):
        return False
    text = name.decode("utf-8", "replace")
    if "/" in text or "\0" in text:
        return True
    folded = unicodedata.normalize("NFC", text.translate(_HFS_IGNORED)).lower()
    # Windows drops trailing dots and spaces, reads "\\" as a separator, and "git~1" is the
    # 8.3 short name of ".git".
    return any(part.rstrip(". ") in _FORBIDDEN_NAMES for part in folded.split("\\"))


_FORBIDDEN_NAMES = frozenset({".git", "git~1", "..", ".", ""})


def check_new_objects(
    incoming: DiskObjectStore, existing, tips: list[str], max_object_bytes: int
) -> int:
    """Check every object in `incoming`; returns how many there were."""
    seen: set[bytes] = set()
    # Pack indexes are asked directly: dulwich's `sha in store` rescans the pack directory
    # and stats a loose file on every call, which cost 0.35 s on a push of 100 commits.
    indexes = [pack.index for pack in (*existing.packs, *incoming.packs)]

    def exists(sha: bytes) -> bool:
        if sha in seen:
            return True
        for index in indexes:
            try:
                index.object_offset(sha)
                return True
            except KeyError:
                continue
        return sha in incoming or sha in existing  # loose objects

    # Each named object once (unchanged subtrees are named by every commit), with who named it.
    referenced: dict[bytes, tuple[bytes, str]] = {}
    for pack in incoming.packs:
        for obj in PackInflater.for_pack_data(pack.data, resolve_ext_ref=incoming.get_raw):
            sha = obj.id
            seen.add(sha)
            if isinstance(obj, Tree):
                _check_tree_names(obj)
            try:
                obj.check()
            except ObjectFormatException as exc:
                raise IntegrityError(f"object {sha.decode()[:12]} is malformed: {exc}") from None
            if isinstance(obj, Blob):
                if obj.raw_length() > max_object_bytes:
                    raise IntegrityError(
                        f"file {sha.decode()[:12]} is {format_size(obj.raw_length())}, "
                        f"larger than the limit of {format_size(max_object_bytes)}"
                    )
            elif isinstance(obj, Tree):
                for entry in obj.iteritems():
                    if entry.mode != GITLINK_MODE:
                        referenced.setdefault(entry.sha, (sha, "tree entry"))
            elif isinstance(obj, Commit):
                referenced.setdefault(obj.tree, (sha, "tree"))
                for parent in obj.parents:
                    referenced.setdefault(parent, (sha, "parent"))
            elif isinstance(obj, Tag):
                referenced.setdefault(obj.object[1], (sha, "tagged object"))
    for target, (source, what) in referenced.items():
        if not exists(target):
            raise IntegrityError(
                f"object {source.decode()[:12]} names a missing {what} {target.decode()[:12]}"
            )
    for tip in tips:
        if not exists(tip.encode()):
            raise IntegrityError(f"the pushed object {tip[:12]} is missing")
    return len(seen)


def format_size(size: int) -> str:
    """A size for a message: whole MiB stay whole ("100 MiB"); below 1 MiB, in bytes.

    (Whole MiB alone printed a 5 kB file over a 1 kB limit as "0 MiB, larger than 0 MiB".)
    """
    mib = 1024 * 1024
    if size < mib:
        return f"{size} bytes"
    return f"{size // mib} MiB" if size % mib == 0 else f"{size / mib:.1f} MiB"


def _check_tree_names(tree: Tree) -> None:
    try:
        entries = list(tree.iteritems())
    except ObjectFormatException as exc:
        raise IntegrityError(f"tree {tree.id.decode()[:12]} is malformed: {exc}") from None
    for entry in entries:
        if is_dangerous_name(entry.path):
            raise IntegrityError(
                f"tree {tree.id.decode()[:12]} has an entry named "
                f"{entry.path.decode('utf-8', 'replace')!r}, which a checkout must not write"
            )
