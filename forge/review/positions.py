"""GitHub's older way to place a review comment: `position`, a line's place in a file's diff.

Position 1 is the line just below the file's first `@@` hunk header; positions count on
through every line of the diff, later hunk headers included, to the end of the file's diff.
The diff is the one the API shows in the `patch` of `GET .../pulls/{n}/files`, so a client
counting lines of that patch lands where it meant to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from forge.errors import Invalid
from forge.models import Change
from forge.repos import contents as content_service

HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Placement:
    """Where a line sits in its file's diff: its position, and the hunk down to it (what
    GitHub answers as a review comment's `diff_hunk`)."""

    position: int
    lines: tuple[str, ...]  # the file's whole patch, shared by every line of it
    hunk_start: int

    @property
    def diff_hunk(self) -> str:
        return "\n".join(self.lines[self.hunk_start : self.position + 1])


def placements(repos_dir: Path, change: Change) -> dict[tuple[str, str, int], Placement]:
    """(path, side, line) -> Placement for every line of the current patch set's diff; a
    context line is on both sides."""
    found: dict[tuple[str, str, int], Placement] = {}
    for item in content_service.change_files(repos_dir, change):
        if item.patch is None:
            continue
        path, lines = item.change.path, tuple(item.patch.split("\n"))
        old = new = start = 0
        for index, text in enumerate(lines):
            header = HUNK.match(text)
            if header:
                old, new, start = int(header[1]), int(header[2]), index
                continue
            placed = Placement(index, lines, start)
            if text.startswith("-"):
                found[(path, "LEFT", old)] = placed
                old += 1
            elif text.startswith("+"):
                found[(path, "RIGHT", new)] = placed
                new += 1
            else:
                found[(path, "RIGHT", new)] = found[(path, "LEFT", old)] = placed
                old, new = old + 1, new + 1
    return found


def line_at_position(repos_dir: Path, change: Change, path: str, position: int) -> tuple[int, str]:
    """(line, side) of `position` in the diff of `path` in the change's current patch set:
    a removed line is on the LEFT side (its line in the base), any other on the RIGHT."""
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise Invalid("position must be a positive number", field="position")
    for item in content_service.change_files(repos_dir, change):
        if item.change.path == path:
            if item.patch is None:
                raise Invalid(f"{path} has no line diff to place a comment in", field="path")
            return position_in_patch(item.patch, position, path)
    raise Invalid(f"{path!r} is not changed by this change", field="path")


def position_in_patch(patch: str, position: int, path: str = "the file") -> tuple[int, str]:
    lines = patch.split("\n")
    if position >= len(lines):
        raise Invalid(
            f"position {position} is past the end of the diff of {path} ({len(lines) - 1} lines)",
            field="position",
        )
    old = new = 0
    for index, text in enumerate(lines[: position + 1]):
        header = HUNK.match(text)
        if header:
            if index == position:
                raise Invalid(f"position {position} is a hunk header of {path}", "position")
            old, new = int(header[1]), int(header[2])
            continue
        if index == position:
            return (old, "LEFT") if text.startswith("-") else (new, "RIGHT")
        if text.startswith("-"):
            old += 1
        elif text.startswith("+"):
            new += 1
        else:
            old, new = old + 1, new + 1
    raise AssertionError("unreachable: the loop returns at `position`")
