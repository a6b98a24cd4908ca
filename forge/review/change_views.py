"""What a change's pages show: the files a patch set changes (against its base, or against
another patch set: the interdiff), one file's diff at a time, its commits, review threads,
and the conversation's timeline in time order. Plain values; the web layer renders them.

A change of hundreds of files is shown as a list first and each file's diff on its own
request, so no single request diffs the whole change. The list of changed files and parsed
interdiffs are cached by the object ids they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.cache import LRU
from forge.errors import Invalid, NotFound
from forge.git import merge as git_merge
from forge.git.browse import Change as FileChange
from forge.git.browse import CommitInfo
from forge.models import (
    Change,
    ChangeComment,
    ChangeEvent,
    CommitStatus,
    PatchSet,
    Review,
    ReviewComment,
    User,
)
from forge.repos.branches import open_git
from forge.repos.browse import MAX_COMPARE_COMMITS, reading
from forge.repos.diffs import DiffLine, Hunk
from forge.repos.file_views import FileDiff, file_diff
from forge.repos.statuses import statuses_for
from forge.review import reviews as review_service

_FILE_LISTS = LRU(8 * 1024 * 1024, weigh=lambda files: 64 + 200 * len(files))
# One file's diff by (repository, old blob, new blob, path): each is asked for on its own.
_FILE_DIFFS = LRU(64 * 1024 * 1024, weigh=lambda diff: diff.weight)
_INTERDIFFS = LRU(32 * 1024 * 1024, weigh=lambda files: 64 + sum(f.weight for f in files.values()))
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


# --- which diff ---------------------------------------------------------------------------------


@dataclass
class DiffChoice:
    """The diff a reader asked for: a patch set against its base, or against another one."""

    patch_set: PatchSet
    against: PatchSet | None = None

    @property
    def is_interdiff(self) -> bool:
        return self.against is not None

    @property
    def commentable(self) -> str:
        """Sides a new comment may go on: comments belong to the current patch set."""
        current = self.patch_set.change.current_patch_set
        if self.patch_set.number != current.number:
            return ""
        return "RIGHT" if self.is_interdiff else "LEFT RIGHT"


def choose(change: Change, patch_set: int | None, against: int | None) -> DiffChoice:
    by_number = {p.number: p for p in change.patch_sets}
    chosen = by_number.get(patch_set) if patch_set else change.current_patch_set
    if chosen is None:
        raise NotFound(f"change #{change.number} has no patch set {patch_set}")
    if not against:
        return DiffChoice(chosen)
    other = by_number.get(against)
    if other is None:
        raise NotFound(f"change #{change.number} has no patch set {against}")
    if other.number == chosen.number:
        raise Invalid("compare two different patch sets", field="against")
    return DiffChoice(chosen, other)


# --- files and diffs ----------------------------------------------------------------------------


def changed_files(repos_dir: Path, change: Change, choice: DiffChoice) -> list[FileChange]:
    """The files the chosen diff touches, in path order, without diffing any of them."""
    if choice.is_interdiff:
        return [d.change for d in _interdiff(repos_dir, change, choice).values()]
    with reading(repos_dir, change.repository) as reader:
        return _file_list(reader, choice.patch_set)


def _file_list(reader, patch_set: PatchSet) -> list[FileChange]:
    old_tree = reader.commit(patch_set.base_sha).tree
    new_tree = reader.commit(patch_set.head_sha).tree
    key = (reader.key, old_tree, new_tree)
    return _FILE_LISTS.get_or_compute(key, lambda: reader.changes(old_tree, new_tree))


def diff_of_file(repos_dir: Path, change: Change, choice: DiffChoice, path: str) -> FileDiff:
    """One file's diff in the chosen diff; NotFound for a file it does not touch."""
    if choice.is_interdiff:
        found = _interdiff(repos_dir, change, choice).get(path)
        if found is None:
            raise NotFound(f"{path} is not changed between these patch sets")
        return found
    with reading(repos_dir, change.repository) as reader:
        for item in _file_list(reader, choice.patch_set):
            if item.path == path:
                key = (reader.key, item.old_sha, item.new_sha, item.old_path, item.new_path)
                return _FILE_DIFFS.get_or_compute(key, lambda item=item: file_diff(reader, item))
    raise NotFound(f"{path} is not changed by patch set {choice.patch_set.number}")


def _interdiff(repos_dir: Path, change: Change, choice: DiffChoice) -> dict[str, FileDiff]:
    old, new = choice.against, choice.patch_set
    key = (change.repository_id, old.base_sha, old.head_sha, new.base_sha, new.head_sha)

    def compute() -> dict[str, FileDiff]:
        with open_git(repos_dir, change.repository) as git:
            text = git_merge.interdiff(git, old.base_sha, old.head_sha, new.base_sha, new.head_sha)
        return parse_unified(text.decode("utf-8", "replace"))

    return _INTERDIFFS.get_or_compute(key, compute)


def parse_unified(text: str) -> dict[str, FileDiff]:
    """A git-style unified diff, by path, as the hunks the diff pages show."""
    files: dict[str, FileDiff] = {}
    current: dict | None = None
    hunk: Hunk | None = None
    old_no = new_no = 0

    def finish():
        if current is None:
            return
        hunks = current["hunks"]
        added = sum(1 for h in hunks for line in h.lines if line.kind == "add")
        removed = sum(1 for h in hunks for line in h.lines if line.kind == "del")
        note = "binary" if current["binary"] else (None if hunks else "unchanged")
        status = current["status"]
        old_path = None if status == "added" else current["path"]
        new_path = None if status == "deleted" else current["path"]
        item = FileChange(status, old_path, new_path, None, None, None, None)
        files[current["path"]] = FileDiff(item, hunks, added, removed, note)

    for line in text.split("\n"):
        if line.startswith("diff --git "):
            finish()
            rest = line[len("diff --git ") :]
            path = rest[2 : len(rest) // 2] if rest.startswith("a/") else rest
            current = {"path": path, "status": "modified", "hunks": [], "binary": False}
            hunk = None
        elif current is None:
            continue
        elif hunk is None and line.startswith("new file mode"):
            current["status"] = "added"
        elif hunk is None and line.startswith("deleted file mode"):
            current["status"] = "deleted"
        elif hunk is None and line.startswith("+++ b/"):
            current["path"] = line[len("+++ b/") :]
        elif hunk is None and line.startswith("--- a/") and current["status"] == "deleted":
            current["path"] = line[len("--- a/") :]
        elif line.startswith("Binary files"):
            current["binary"] = True
        elif (match := _HUNK_HEADER.match(line)) is not None:
            old_no, new_no = int(match.group(1)), int(match.group(3))
            hunk = Hunk(
                old_no, int(match.group(2) or 1), new_no, int(match.group(4) or 1), lines=[]
            )
            current["hunks"].append(hunk)
        elif hunk is not None and line[:1] in (" ", "+", "-"):
            html = escape(line[1:])
            if line[0] == " ":
                hunk.lines.append(DiffLine("context", old_no, new_no, html))
                old_no, new_no = old_no + 1, new_no + 1
            elif line[0] == "+":
                hunk.lines.append(DiffLine("add", None, new_no, html))
                new_no += 1
            else:
                hunk.lines.append(DiffLine("del", old_no, None, html))
                old_no += 1
    finish()
    return files


def commits(repos_dir: Path, change: Change, patch_set: PatchSet) -> list[CommitInfo]:
    with reading(repos_dir, change.repository) as reader:
        return reader.commits_between(patch_set.base_sha, patch_set.head_sha, MAX_COMPARE_COMMITS)


# --- review threads -----------------------------------------------------------------------------


@dataclass
class Thread:
    root: ReviewComment
    replies: list[ReviewComment] = field(default_factory=list)
    pending: bool = False  # the root is a draft of the viewer's pending review

    @property
    def resolved(self) -> bool:
        return self.root.resolved

    @property
    def outdated(self) -> bool:
        return self.root.line is None


def threads(session: Session, change: Change, viewer: User | None) -> list[Thread]:
    """Inline comments the viewer may see, as threads (a first comment and its replies)."""
    comments = review_service.comments_of(session, change, viewer)
    pending = {
        r.id for r in review_service.reviews_of(session, change, viewer) if r.state == "PENDING"
    }
    by_root: dict[int, Thread] = {}
    for comment in comments:
        if comment.in_reply_to_id is None:
            by_root[comment.id] = Thread(comment, pending=comment.review_id in pending)
    for comment in comments:
        if comment.in_reply_to_id is not None and comment.in_reply_to_id in by_root:
            by_root[comment.in_reply_to_id].replies.append(comment)
    return list(by_root.values())


def threads_at(found: list[Thread], path: str, choice: DiffChoice) -> dict[tuple[str, int], list]:
    """The threads shown on the lines of one file of the chosen diff, by (side, line)."""
    shown = {"RIGHT": choice.patch_set.head_sha}
    if not choice.is_interdiff:
        shown["LEFT"] = choice.patch_set.base_sha
    placed: dict[tuple[str, int], list[Thread]] = {}
    for thread in found:
        root = thread.root
        if root.path == path and root.line is not None and shown.get(root.side) == root.commit_sha:
            placed.setdefault((root.side, root.line), []).append(thread)
    return placed


# --- the conversation ---------------------------------------------------------------------------


@dataclass
class TimelineItem:
    kind: str  # event, comment, review, status
    at: datetime
    item: object
    threads: list[Thread] = field(default_factory=list)  # a review's inline comments


def timeline(session: Session, change: Change, viewer: User | None) -> list[TimelineItem]:
    """Events, conversation comments, submitted reviews (with their inline threads) and the
    statuses of the head commit, oldest first."""
    items = [
        TimelineItem("event", e.created_at, e)
        for e in session.scalars(
            select(ChangeEvent).where(ChangeEvent.change_id == change.id).order_by(ChangeEvent.id)
        )
        if e.kind != "review"  # the review itself is in the timeline
    ]
    items += [
        TimelineItem("comment", c.created_at, c)
        for c in session.scalars(
            select(ChangeComment)
            .where(ChangeComment.change_id == change.id)
            .order_by(ChangeComment.id)
        )
    ]
    by_review: dict[int | None, list[Thread]] = {}
    for thread in threads(session, change, viewer):
        by_review.setdefault(thread.root.review_id, []).append(thread)
    reviews: list[Review] = [
        r for r in review_service.reviews_of(session, change, viewer) if r.state != "PENDING"
    ]
    items += [
        TimelineItem("review", r.submitted_at or r.created_at, r, by_review.get(r.id, []))
        for r in reviews
        # A reply is a review of its own (as on GitHub) that says nothing its thread does not.
        if r.body or r.state != "COMMENTED" or r.id in by_review
    ]
    items += [
        TimelineItem("status", s.created_at, s)
        for s in statuses_for(session, change.repository, change.head_sha)
    ]
    order = {"event": 0, "comment": 1, "review": 2, "status": 3}
    items.sort(key=lambda i: (i.at, order[i.kind], getattr(i.item, "id", 0)))
    return items


def patch_set_of_event(event: ChangeEvent) -> tuple[int, str] | None:
    """(number, head sha) of a patch_set event."""
    number, _, sha = event.detail.partition(":")
    return (int(number), sha) if number.isdigit() else None


def latest_statuses(session: Session, change: Change) -> list[CommitStatus]:
    from forge.repos.statuses import latest_per_context

    return latest_per_context(statuses_for(session, change.repository, change.head_sha))
