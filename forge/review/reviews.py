"""Reviewing a change: inline comments on diff lines (drafts until a review is submitted),
threaded replies, resolving threads, and comments that follow their line to new patch sets.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can, require
from forge.db import utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.git.browse import Missing, RepoReader
from forge.models import Change, ChangeEvent, Review, ReviewComment, User
from forge.repos.repositories import disk_path
from forge.review import changes as change_service
from forge.review import inbox

EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
SIDES = ("LEFT", "RIGHT")


def _reader(repos_dir: Path, change: Change) -> RepoReader:
    return RepoReader(disk_path(repos_dir, change.repository))


def _file_lines(reader: RepoReader, commit: str, path: str) -> list[bytes] | None:
    try:
        entry = reader.entry(commit, path)
        return reader.blob(entry.sha).splitlines()
    except Missing:
        return None


def changed_paths(repos_dir: Path, change: Change) -> set[str]:
    patch_set = change.current_patch_set
    with _reader(repos_dir, change) as reader:
        old_tree = reader.commit(patch_set.base_sha).tree
        new_tree = reader.commit(patch_set.head_sha).tree
        found = set()
        for item in reader.changes(old_tree, new_tree):
            found.update(p for p in (item.old_path, item.new_path) if p)
        return found


def _check_line(repos_dir: Path, change: Change, path: str, line: int, side: str) -> None:
    if side not in SIDES:
        raise Invalid("side must be LEFT or RIGHT", field="side")
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        raise Invalid("line must be a positive number", field="line")
    if path not in changed_paths(repos_dir, change):
        raise Invalid(f"{path!r} is not changed by this change", field="path")
    patch_set = change.current_patch_set
    commit = patch_set.head_sha if side == "RIGHT" else patch_set.base_sha
    with _reader(repos_dir, change) as reader:
        lines = _file_lines(reader, commit, path)
    if lines is None or line > len(lines):
        raise Invalid(
            f"line {line} does not exist on the {side.lower()} side of {path}", field="line"
        )


def _pending_review(session: Session, change: Change, author: User) -> Review:
    review = session.scalar(
        select(Review).where(
            Review.change_id == change.id, Review.author_id == author.id, Review.state == "PENDING"
        )
    )
    if review is None:
        patch_set = change.current_patch_set
        review = Review(
            change_id=change.id,
            author=author,
            state="PENDING",
            commit_sha=patch_set.head_sha,
            patch_set_number=patch_set.number,
        )
        session.add(review)
        session.flush()
    return review


def _single_comment_review(session: Session, change: Change, author: User) -> Review:
    patch_set = change.current_patch_set
    review = Review(
        change_id=change.id,
        author=author,
        state="COMMENTED",
        body="",
        commit_sha=patch_set.head_sha,
        patch_set_number=patch_set.number,
        submitted_at=utcnow(),
    )
    session.add(review)
    session.flush()
    return review


def add_comment(
    session: Session,
    repos_dir: Path,
    change: Change,
    author: User,
    *,
    path: str,
    line: int,
    body: str,
    side: str = "RIGHT",
    draft: bool = True,
) -> ReviewComment:
    """A comment on a diff line; a draft (part of the author's pending review) by default."""
    require(session, author, "read", change.repository)
    body = (body or "").strip()
    if not body:
        raise Invalid("a comment needs some text", field="body")
    _check_line(repos_dir, change, path, line, side)
    patch_set = change.current_patch_set
    commit = patch_set.head_sha if side == "RIGHT" else patch_set.base_sha
    # A comment not held as a draft is a review of its own, as on GitHub (a "commented"
    # review holding the one comment), so every inline comment belongs to a review.
    review = (
        _pending_review(session, change, author)
        if draft
        else _single_comment_review(session, change, author)
    )
    comment = ReviewComment(
        change_id=change.id,
        review_id=review.id if review else None,
        author=author,
        path=path,
        side=side,
        line=line,
        original_line=line,
        commit_sha=commit,
        original_commit_sha=commit,
        patch_set_number=patch_set.number,
        body=body,
    )
    session.add(comment)
    session.flush()
    if not draft:
        # Posted on its own, not held for a review: receivers hear of it now, as GitHub's
        # pull_request_review_comment; a draft is told of with its review when submitted.
        events.publish(
            session, events.ReviewCommentAdded(change=change, comment=comment, sender=author)
        )
    return comment


def reply(session: Session, change: Change, author: User, to_id: int, body: str) -> ReviewComment:
    require(session, author, "read", change.repository)
    parent = session.get(ReviewComment, to_id)
    if parent is None or parent.change_id != change.id:
        raise NotFound("no such review comment")
    while parent.in_reply_to_id is not None:  # threads are flat: reply to the first comment
        parent = session.get(ReviewComment, parent.in_reply_to_id)
    body = (body or "").strip()
    if not body:
        raise Invalid("a reply needs some text", field="body")
    comment = ReviewComment(
        change_id=change.id,
        review_id=_single_comment_review(session, change, author).id,
        author=author,
        in_reply_to_id=parent.id,
        path=parent.path,
        side=parent.side,
        line=parent.line,
        original_line=parent.original_line,
        commit_sha=parent.commit_sha,
        original_commit_sha=parent.original_commit_sha,
        patch_set_number=parent.patch_set_number,
        body=body,
    )
    session.add(comment)
    change.updated_at = utcnow()
    session.flush()
    events.publish(
        session, events.ReviewCommentAdded(change=change, comment=comment, sender=author)
    )
    return comment


def set_resolved(session: Session, change: Change, actor: User, comment_id: int, resolved: bool):
    comment = session.get(ReviewComment, comment_id)
    if comment is None or comment.change_id != change.id:
        raise NotFound("no such review comment")
    if actor.id not in (comment.author_id, change.author_id) and not can(
        session, actor, "triage", change.repository
    ):
        raise Forbidden("only the change's author, the commenter or a triager may resolve threads")
    root = (
        comment
        if comment.in_reply_to_id is None
        else session.get(ReviewComment, comment.in_reply_to_id)
    )
    root.resolved = resolved
    return root


def submit_review(
    session: Session,
    repos_dir: Path,
    change: Change,
    author: User,
    event: str,
    body: str = "",
    comments: list[dict] | None = None,
) -> Review:
    """Submit the author's review: their drafts plus `comments`, as APPROVE,
    REQUEST_CHANGES or COMMENT. Nothing is written when any part is invalid."""
    require(session, author, "read", change.repository)
    if event not in EVENTS:
        raise Invalid("event must be APPROVE, REQUEST_CHANGES or COMMENT", field="event")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; it can no longer be reviewed")
    if author.id == change.author_id and event != "COMMENT":
        raise Invalid("you cannot approve or request changes on your own change", field="event")
    for item in comments or []:
        add_comment(
            session,
            repos_dir,
            change,
            author,
            path=item.get("path"),
            line=item.get("line"),
            side=item.get("side") or "RIGHT",
            body=item.get("body"),
        )
    review = _pending_review(session, change, author)
    has_comments = session.scalar(
        select(ReviewComment.id).where(ReviewComment.review_id == review.id).limit(1)
    )
    if event == "COMMENT" and not (body or "").strip() and not has_comments:
        raise Invalid("a comment review needs a body or inline comments", field="body")
    review.state = EVENTS[event]
    review.body = (body or "").strip()
    review.submitted_at = utcnow()
    change.updated_at = utcnow()
    session.add(
        ChangeEvent(change_id=change.id, actor_id=author.id, kind="review", detail=review.state)
    )
    if author.id != change.author_id:
        inbox.notify(
            session, change.author_id, change, "author", f"{author.name} reviewed: {review.state}"
        )
    inbox.notify_mentions(session, change, author, review.body)
    session.flush()
    # APPROVE and REQUEST_CHANGES are Code-Review votes too (the gate subscribes), so both
    # ways feed the gate.
    events.publish(
        session,
        events.ReviewSubmitted(
            change=change,
            review=review,
            sender=author,
            verdict=event,
            comments=tuple(comments_of_review(session, review)),
        ),
    )
    return review


def reviews_of(session: Session, change: Change, viewer: User | None = None) -> list[Review]:
    """Submitted reviews, plus the viewer's own pending one."""
    query = select(Review).where(Review.change_id == change.id).order_by(Review.id)
    return [
        r
        for r in session.scalars(query)
        if r.state != "PENDING" or (viewer is not None and r.author_id == viewer.id)
    ]


def comments_of(
    session: Session, change: Change, viewer: User | None = None
) -> list[ReviewComment]:
    """Inline comments others may see (drafts only to their author), oldest first."""
    pending = select(Review.id).where(Review.change_id == change.id, Review.state == "PENDING")
    if viewer is not None:
        pending = pending.where(Review.author_id != viewer.id)
    query = (
        select(ReviewComment)
        .where(ReviewComment.change_id == change.id)
        .where((ReviewComment.review_id.is_(None)) | ReviewComment.review_id.not_in(pending))
        .order_by(ReviewComment.id)
    )
    return list(session.scalars(query))


def get_review(session: Session, change: Change, review_id: int, viewer: User | None) -> Review:
    """A submitted review of the change (or the viewer's own pending one), by its id."""
    review = session.get(Review, review_id)
    hidden = review is not None and review.state == "PENDING"
    if hidden and viewer is not None and review.author_id == viewer.id:
        hidden = False
    if review is None or review.change_id != change.id or hidden:
        raise NotFound(f"no review {review_id} on change #{change.number}")
    return review


def comments_of_review(session: Session, review: Review) -> list[ReviewComment]:
    query = select(ReviewComment).where(ReviewComment.review_id == review.id)
    return list(session.scalars(query.order_by(ReviewComment.id)))


def get_comment(
    session: Session, repo, comment_id: int, viewer: User | None = None
) -> ReviewComment:
    """An inline comment on any change of `repo` that the viewer may see, by its id."""
    comment = session.scalar(
        select(ReviewComment)
        .join(Change, ReviewComment.change_id == Change.id)
        .where(ReviewComment.id == comment_id, Change.repository_id == repo.id)
    )
    if comment is not None and comment.review_id is not None:
        review = session.get(Review, comment.review_id)
        if review.state == "PENDING" and (viewer is None or viewer.id != review.author_id):
            comment = None
    if comment is None:
        raise NotFound(f"no review comment {comment_id} in {repo.full_name}")
    return comment


def delete_comment(session: Session, actor: User, comment: ReviewComment) -> None:
    """Delete an inline comment (its replies go with it, as the thread hangs on it)."""
    change = session.get(Change, comment.change_id)
    change_service.require_author_or_maintainer(
        session, actor, comment.author_id, change.repository
    )
    events.publish(session, events.CommentDeleted(change=change, comment=comment, sender=actor))
    for child in session.scalars(
        select(ReviewComment).where(ReviewComment.in_reply_to_id == comment.id)
    ):
        session.delete(child)
    # The replies first: in one batch with the parent, the database's own cascade may have
    # removed them already, and the ORM finds fewer rows than it deleted.
    session.flush()
    session.delete(comment)
    session.flush()


def carry_comments(session: Session, repo_path: Path, change: Change, old_head: str, new_head: str):
    """Move right-side comments to the same line of the new patch set, or mark them outdated."""
    rows = session.scalars(
        select(ReviewComment).where(
            ReviewComment.change_id == change.id,
            ReviewComment.side == "RIGHT",
            ReviewComment.commit_sha == old_head,
            ReviewComment.line.is_not(None),
        )
    ).all()
    if not rows:
        return
    with RepoReader(repo_path) as reader:
        for path in {row.path for row in rows}:
            mapping = _line_map(
                _file_lines(reader, old_head, path), _file_lines(reader, new_head, path)
            )
            for row in (r for r in rows if r.path == path):
                row.line = mapping.get(row.line)
                row.commit_sha = new_head if row.line is not None else row.commit_sha


def _line_map(old: list[bytes] | None, new: list[bytes] | None) -> dict[int, int]:
    """old line number -> new line number, for lines the update left untouched."""
    if old is None or new is None:
        return {}
    mapping = {}
    for block in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
        for i in range(block.size):
            mapping[block.a + i + 1] = block.b + i + 1
    return mapping
