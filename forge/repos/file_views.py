"""What code pages show of a file's content: its highlighted lines (blob, blame and diff pages
share them) and its diff between two trees, bounded so one page stays small. Each is cached by
the object ids it shows, so it is worked out once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from forge.cache import LRU
from forge.git import page_cache
from forge.git.browse import Change, RepoReader
from forge.repos.diffs import DiffLine, Hunk, diff_lines, split_lines
from forge.repos.highlight import MAX_BYTES, MAX_LINES, highlight_lines

MAX_DIFF_FILES = 300  # files of one page that get a line diff
MAX_DIFF_LINES = 20_000  # lines of diff one page shows in all
# A diff highlights a file whole only when it is this short (or its page did it already);
# a longer one is highlighted around the lines its hunks show. Highlighting both sides of
# every file whole was 10 of the 11 s a compare of two git.git releases took (300 files).
DIFF_HIGHLIGHT_LINES = 200
# Around a shown line: lines highlighted before it (so a construct opened just above is seen,
# such as a comment) and in all.
_LEAD, _WINDOW = 10, 60

_HIGHLIGHTED = LRU(96 * 1024 * 1024, weigh=lambda lines: 64 + sum(len(x) + 56 for x in lines))
# A file's highlighted lines are kept on disk once it has more than this many.
STORED_HIGHLIGHT_LINES = 500
# The layout of what is kept on disk (diffs, highlighted lines): a new one reads none of an
# older forge's.
_STORED_FORMAT = 1
_DIFFS = LRU(64 * 1024 * 1024, weigh=lambda files: 256 + sum(f.weight for f in files))


@dataclass
class FileDiff:
    change: Change
    hunks: list[Hunk]
    additions: int | None
    deletions: int | None
    note: str | None  # why there are no hunks: binary, too large, not shown, ...

    @property
    def anchor(self) -> str:
        return "diff-" + hashlib.sha1(self.change.path.encode()).hexdigest()[:16]

    @property
    def weight(self) -> int:
        return 256 + sum(64 + sum(len(x.html) + 64 for x in h.lines) for h in self.hunks)


@dataclass
class DiffSummary:
    files: list[FileDiff]
    additions: int
    deletions: int
    truncated: bool  # some files were not diffed to keep the page bounded
    key: tuple  # the trees compared


def _highlight_key(reader: RepoReader, sha: str, name: str) -> tuple:
    return (reader.key, sha, name.rsplit("/", 1)[-1].lower())


def highlighted(reader: RepoReader, sha: str, name: str, data: bytes | None = None) -> list[Markup]:
    key = _highlight_key(reader, sha, name)

    def compute() -> list[Markup]:
        text = (reader.blob(sha) if data is None else data).decode("utf-8", "replace")
        lines = highlight_lines(text, name)
        if lines and lines[-1] == "" and text.endswith("\n"):
            lines.pop()
        return lines

    def stored() -> list[Markup]:
        # A long file is kept on disk too: git.git's diff.c (7,858 lines) takes 2 s to
        # highlight, which each restarted or other worker paid again.
        cache = page_cache.current()
        disk_key = f"highlighted{_STORED_FORMAT}:{sha}:{key[2]}"
        found = cache.get(disk_key) if cache is not None else None
        if found is not None:
            return [Markup(line) for line in json.loads(found)]
        lines = compute()
        if cache is not None and len(lines) > STORED_HIGHLIGHT_LINES:
            cache.put(disk_key, json.dumps(lines, separators=(",", ":")).encode())
        return lines

    return _HIGHLIGHTED.get_or_compute(key, stored)


# Rendered HTML smaller than this is not worth a write to disk: it renders in a millisecond.
STORED_HTML_BYTES = 16 * 1024


def stored_html(key: tuple, render: Callable[[], str]) -> str:
    """HTML that depends only on `key` (object ids, names, and what renders it: the caller
    puts its templates' version in), from the page cache on disk, else rendered and kept
    there when large: a restarted or another worker showed a compare of two releases after
    rendering 300 files' diffs again (a quarter to half a second)."""
    cache = page_cache.current()
    if cache is None:
        return render()
    disk_key = "html:" + hashlib.sha1(repr(key).encode()).hexdigest()
    found = cache.get(disk_key)
    if found is not None:
        return found.decode()
    html = render()
    if len(html) >= STORED_HTML_BYTES:
        cache.put(disk_key, html.encode())
    return html


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8000]


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def too_large(data: bytes) -> bool:
    """Over 1 MB or 20,000 lines: not highlighted, diffed or blamed; raw has it."""
    return len(data) > MAX_BYTES or line_count(data) > MAX_LINES


def diff_trees(reader: RepoReader, old_tree: str | None, new_tree: str) -> DiffSummary:
    key = (reader.key, old_tree, new_tree)
    files = _DIFFS.get_or_compute(key, lambda: _stored_diffs(reader, old_tree, new_tree))
    return DiffSummary(
        files,
        sum(f.additions or 0 for f in files),
        sum(f.deletions or 0 for f in files),
        any(f.note == "not shown" for f in files),
        ("diff", old_tree, new_tree),
    )


def _stored_diffs(reader: RepoReader, old_tree: str | None, new_tree: str) -> list[FileDiff]:
    """The file diffs between two trees from the page cache on disk (so a restarted or another
    worker has them: a compare of two git.git releases takes seconds to work out), else
    worked out and kept there. Two trees' ids fix their files, names included."""
    cache = page_cache.current()
    key = f"diffs{_STORED_FORMAT}:{old_tree}:{new_tree}"
    stored = cache.get(key) if cache is not None else None
    if stored is not None:
        return [_from_json(item) for item in json.loads(stored)]
    files = _file_diffs(reader, reader.changes(old_tree, new_tree))
    if cache is not None:
        cache.put(key, json.dumps([_to_json(f) for f in files], separators=(",", ":")).encode())
    return files


def _to_json(diff: FileDiff) -> list:
    hunks = [
        [h.old_start, h.old_count, h.new_start, h.new_count,
         [[line.kind, line.old, line.new, str(line.html)] for line in h.lines]]
        for h in diff.hunks
    ]  # fmt: skip
    return [dataclasses.astuple(diff.change), hunks, diff.additions, diff.deletions, diff.note]


def _from_json(item: list) -> FileDiff:
    change, hunks, additions, deletions, note = item
    return FileDiff(
        Change(*change),
        [
            Hunk(
                a,
                b,
                c,
                d,
                [DiffLine(kind, old, new, Markup(html)) for kind, old, new, html in rows],
            )
            for a, b, c, d, rows in hunks
        ],
        additions,
        deletions,
        note,
    )


def _file_diffs(reader: RepoReader, changes: list[Change]) -> list[FileDiff]:
    budget = MAX_DIFF_LINES
    result = []
    for index, change in enumerate(changes):
        if budget <= 0 or index >= MAX_DIFF_FILES:
            result.append(FileDiff(change, [], None, None, "not shown"))
            continue
        diff = file_diff(reader, change)
        budget -= sum(len(h.lines) for h in diff.hunks)
        result.append(diff)
    return result


def file_diff(reader: RepoReader, change: Change) -> FileDiff:
    modes = (change.old_mode, change.new_mode)
    if 0o160000 in modes:
        return FileDiff(change, [], None, None, "submodule")
    old = reader.blob(change.old_sha) if change.old_sha else b""
    new = reader.blob(change.new_sha) if change.new_sha else b""
    if is_binary(old) or is_binary(new):
        return FileDiff(change, [], None, None, "binary")
    if too_large(old) or too_large(new):
        return FileDiff(change, [], None, None, "too large")
    old_lines, new_lines = split_lines(old), split_lines(new)
    name = change.path
    old_html = _diff_html(reader, change.old_sha, name, old)
    new_html = _diff_html(reader, change.new_sha, name, new)
    hunks, added, removed = diff_lines(old_lines, new_lines, old_html, new_html)
    note = None
    if not hunks:
        note = "empty" if not old and not new else "unchanged"
    return FileDiff(change, hunks, added, removed, note)


def _diff_html(reader: RepoReader, sha: str | None, name: str, data: bytes):
    """A side's lines for a diff, indexed by line: the file highlighted whole when it is short
    or already was, else `_ShownLines`."""
    if sha is None:
        return []
    if line_count(data) <= DIFF_HIGHLIGHT_LINES:
        return highlighted(reader, sha, name, data)
    whole = _HIGHLIGHTED.get(_highlight_key(reader, sha, name))
    return whole if whole is not None else _ShownLines(data, name)


class _ShownLines:
    """A long file's lines for a diff, highlighted a window at a time around the lines the
    hunks ask for. A window starts _LEAD lines above the first line asked, so a comment or
    string opened a little above is read as one; one opened further up is coloured as code,
    as a diff viewer that highlights lines alone colours it (the text is escaped either way)."""

    def __init__(self, data: bytes, name: str):
        text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")
        self.lines = text.split("\n")
        self.name = name
        self.done: dict[int, Markup] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index: int) -> Markup:
        found = self.done.get(index)
        if found is None:
            start = max(0, index - _LEAD)
            end = min(len(self.lines), start + _WINDOW)
            shown = highlight_lines("\n".join(self.lines[start:end]), self.name)
            for offset, html in enumerate(shown):
                self.done.setdefault(start + offset, html)
            found = self.done[index]
        return found
