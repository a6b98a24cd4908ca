"""Line diffs of two versions of a file, as hunks ready to show unified or side by side.

The lines come in already highlighted (one HTML string per line, escaped), so a diff line
shows the same colours as the file view. Big inputs are refused by the caller's limits
before they get here; `diff_lines` itself only trims the common head and tail before asking
difflib, which keeps ordinary edits of long files cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from markupsafe import Markup

CONTEXT = 3


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "context", "add" or "del"
    old: int | None  # line numbers, from 1
    new: int | None
    html: Markup

    @property
    def sign(self) -> str:
        return {"add": "+", "del": "-"}.get(self.kind, " ")


@dataclass
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: list[DiffLine] = field(default_factory=list)

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"

    def split_rows(self) -> list[tuple[DiffLine | None, DiffLine | None]]:
        """Rows of a side-by-side view: removed lines face the lines that replaced them."""
        rows: list[tuple[DiffLine | None, DiffLine | None]] = []
        removed: list[DiffLine] = []
        added: list[DiffLine] = []

        def flush():
            for index in range(max(len(removed), len(added))):
                rows.append(
                    (
                        removed[index] if index < len(removed) else None,
                        added[index] if index < len(added) else None,
                    )
                )
            removed.clear()
            added.clear()

        for line in self.lines:
            if line.kind == "del":
                if added:
                    flush()
                removed.append(line)
            elif line.kind == "add":
                added.append(line)
            else:
                flush()
                rows.append((line, line))
        flush()
        return rows


def split_lines(data: bytes) -> list[str]:
    """The lines of a file's bytes as text (a final newline does not start another line)."""
    if not data:
        return []
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def diff_lines(
    old: list[str], new: list[str], old_html: list[Markup], new_html: list[Markup]
) -> tuple[list[Hunk], int, int]:
    """Hunks with three lines of context, and the number of added and removed lines."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    matcher = SequenceMatcher(None, old[head : len(old) - tail], new[head : len(new) - tail])
    opcodes = [
        (tag, i1 + head, i2 + head, j1 + head, j2 + head)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]
    if head:
        opcodes.insert(0, ("equal", 0, head, 0, head))
    if tail:
        opcodes.append(("equal", len(old) - tail, len(old), len(new) - tail, len(new)))
    hunks: list[Hunk] = []
    added = removed = 0
    for group in _grouped(_merge_equal(opcodes)):
        first, last = group[0], group[-1]
        hunk = Hunk(first[1] + 1, last[2] - first[1], first[3] + 1, last[4] - first[3])
        if hunk.old_count == 0:
            hunk.old_start -= 1
        if hunk.new_count == 0:
            hunk.new_start -= 1
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    hunk.lines.append(
                        DiffLine("context", i1 + offset + 1, j1 + offset + 1, new_html[j1 + offset])
                    )
                continue
            for i in range(i1, i2):
                hunk.lines.append(DiffLine("del", i + 1, None, old_html[i]))
            for j in range(j1, j2):
                hunk.lines.append(DiffLine("add", None, j + 1, new_html[j]))
            removed += i2 - i1
            added += j2 - j1
        hunks.append(hunk)
    return hunks, added, removed


def _merge_equal(opcodes: list[tuple]) -> list[tuple]:
    merged: list[tuple] = []
    for code in opcodes:
        if code[1] == code[2] and code[3] == code[4]:
            continue
        if merged and code[0] == "equal" and merged[-1][0] == "equal":
            tag, i1, _, j1, _ = merged.pop()
            code = (tag, i1, code[2], j1, code[4])
        merged.append(code)
    return merged


def _grouped(codes: list[tuple], n: int = CONTEXT) -> list[list[tuple]]:
    """difflib's get_grouped_opcodes, over opcodes made from a trimmed comparison."""
    if not codes or all(code[0] == "equal" for code in codes):
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    groups, group = [], []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > n * 2:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups
