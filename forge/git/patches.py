"""Diffs and patches as git prints them: `git diff` text between two trees and
`git format-patch` mails of commits, for GitHub's `.diff` and `.patch` media types."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr

from dulwich.patch import write_tree_diff
from dulwich.repo import Repo


def tree_diff(repo: Repo, old_tree: str | None, new_tree: str) -> bytes:
    """`git diff` from one tree to another (from nothing when `old_tree` is None)."""
    out = io.BytesIO()
    write_tree_diff(
        out, repo.object_store, old_tree.encode() if old_tree else None, new_tree.encode()
    )
    return out.getvalue()


def format_patches(repo: Repo, commits: list[str]) -> bytes:
    """The commits (oldest first) as `git format-patch --stdout` prints them: one mail each,
    with the diff from its first parent, which `git am` applies."""
    store = repo.object_store
    out = io.BytesIO()
    for number, sha in enumerate(commits, start=1):
        commit = store[sha.encode()]
        old_tree = store[commit.parents[0]].tree if commit.parents else None
        numbering = f"[PATCH {number}/{len(commits)}]" if len(commits) > 1 else "[PATCH]"
        message = commit.message.decode("utf-8", "replace").strip("\n")
        subject, _, body = message.partition("\n")
        author = commit.author.decode("utf-8", "replace")
        name, _, email = author.rpartition(" <")
        zone = timezone(timedelta(seconds=commit.author_timezone))
        when = datetime.fromtimestamp(commit.author_time, zone)
        head = (
            f"From {sha} Mon Sep 17 00:00:00 2001\n"  # git's fixed date: the line is a marker
            f"From: {formataddr((name, email.rstrip('>')), charset='utf-8')}\n"
            f"Date: {format_datetime(when)}\n"
            f"Subject: {_header(f'{numbering} {subject.strip()}')}\n"
            "\n"
        )
        out.write(head.encode())
        if body.strip():
            out.write(body.strip("\n").encode() + b"\n")
        out.write(b"---\n\n")
        write_tree_diff(out, store, old_tree, commit.tree)
        out.write(b"-- \nforge\n\n")
    return out.getvalue()


def _header(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()
