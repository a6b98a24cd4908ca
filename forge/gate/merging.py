"""Merging a change into its target branch, on the server, three ways: a merge commit,
a squash, or a rebase (fast-forward when possible).

The new commit is computed without a work tree (`forge.git.merge`), then the branch moves
through `forge.repos.refs.update_refs`, the same path as a push: branch protection,
required reviews and statuses, and the records all apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts import reputation
from forge.accounts.permissions import can, require
from forge.db import RowBusy, lock_row, utcnow
from forge.errors import Conflict, Forbidden, Invalid
from forge.gate.quality_gate import admin_may_bypass, submit_status
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.models import Change, ChangeEvent, Review, User
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings, update_refs

METHODS = ("merge", "squash", "rebase")


@dataclass
class Mergeability:
    mergeable: bool
    conflicts: list[str]
    reason: str  # what a person reads: "clean", or why not


def mergeability(repos_dir: Path, change: Change) -> Mergeability:
    if change.state != "open":
        return Mergeability(False, [], f"the change is {change.state}")
    with open_git(repos_dir, change.repository) as git:
        base = git_refs.current_value(git, f"refs/heads/{change.base_branch}")
        if base == git_refs.ZERO:
            return Mergeability(False, [], f"the base branch {change.base_branch} is gone")
        conflicts = git_merge.check_mergeable(git, base, change.head_sha)
    if conflicts:
        return Mergeability(
            False,
            conflicts,
            "conflicts with the base branch; rebase the change: " + ", ".join(conflicts),
        )
    return Mergeability(True, [], "clean")


def approvals(session: Session, change: Change) -> int:
    """Reviewers whose latest submitted review approves the current head."""
    latest: dict[int, Review] = {}
    for review in session.scalars(
        select(Review)
        .where(Review.change_id == change.id, Review.state != "PENDING")
        .order_by(Review.id)
    ):
        latest[review.author_id] = review
    return sum(
        1 for r in latest.values() if r.state == "APPROVED" and r.commit_sha == change.head_sha
    )


def check_can_merge(
    session: Session, change: Change, method: str, *, landing_with: set[int] = frozenset()
) -> None:
    """What any merge asks first, direct or through the merge queue: a known method, an open
    change, and not an audit (audits measure reviewers and never land). `landing_with`: the
    changes that land together with it (its topic), among which its parent may be."""
    if method not in METHODS:
        raise Invalid(f"merge_method must be one of {', '.join(METHODS)}", field="merge_method")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state} and cannot be merged")
    if reputation.is_audit(session, change):
        raise Invalid(f"change #{change.number} is an audit and is never merged; unmark it first")
    if change.work_in_progress:
        raise Invalid(f"change #{change.number} is work in progress; mark it ready first")
    parent = change.depends_on
    if parent is not None and parent.state != "merged" and parent.id not in landing_with:
        # A chain lands in order: this change's commits hold its parent's.
        raise Invalid(
            f"change #{change.number} depends on change #{parent.number}, which is "
            f"{parent.state}; merge that first"
        )


def check_head(change: Change, expected_head_sha: str | None) -> None:
    """Refuse a merge asked for a head the change no longer has (someone pushed since)."""
    if expected_head_sha and expected_head_sha != change.head_sha:
        raise Invalid(
            "the change's head moved since you looked at it "
            f"(expected {expected_head_sha[:12]}, now {change.head_sha[:12]}); review it again",
            field="sha",
        )


def merge_change(
    session: Session,
    repos_dir: Path,
    change: Change,
    actor: User,
    method: str,
    config: RefChangeSettings,
    *,
    expected_head_sha: str | None = None,
    commit_title: str | None = None,
    commit_message: str | None = None,
    via: str = "web",
) -> str:
    """Merge the change; returns the commit the target branch now points at. Two merges of
    one change at once (two API calls, the button twice, on different machines) make one
    merge commit: the second waits for the first and finds the change merged."""
    require(session, actor, "write", change.repository)
    with open_git(repos_dir, change.repository) as git, git_refs.locked_refs(git):
        # The repository's ref lock first, then the change's row: a push takes them in this
        # order too (it holds its ref lock until its rows commit), so neither ever waits for
        # the other while holding what the other needs. The row lock is the decision that
        # holds across machines: the second merge reads the change as the first left it.
        try:
            lock_row(session, change)
        except RowBusy:
            raise Conflict(
                f"change #{change.number} is being changed by another request; reload it"
            ) from None
        check_can_merge(session, change, method)
        check_head(change, expected_head_sha)
        check_submit_requirements(session, repos_dir, change, actor)
        identity = git_merge.Identity(actor.full_name or actor.name, actor.email)
        title = (commit_title or "").strip()
        ref = f"refs/heads/{change.base_branch}"
        base = git_refs.current_value(git, ref)
        if base == git_refs.ZERO:
            raise Invalid(f"the base branch {change.base_branch} no longer exists")
        try:
            new = landing_commit(git, base, change, method, identity, title, commit_message)
        except git_merge.MergeConflict as exc:
            raise Invalid(
                f"change #{change.number} conflicts with {change.base_branch} in "
                f"{', '.join(exc.paths)}; it needs a rebase",
                field="merge",
            ) from None
        update_refs(
            session,
            change.repository,
            git,
            actor,
            [RefUpdate(ref, base, new)],
            config,
            via=via,
            change=change,
            approvals=approvals(session, change),
        )
    record_merged(session, change, actor, method, new, config.base_url)
    return new


def landing_commit(
    git,
    base: str,
    change: Change,
    method: str,
    committer: git_merge.Identity,
    title: str = "",
    commit_message: str | None = None,
) -> str:
    """The commit that lands `change` on `base` by `method` (written, no ref moved); raises
    MergeConflict. The merge queue builds its speculative merges with it too."""
    if method == "merge":
        message = title or f"Merge change #{change.number}: {change.title}"
        body = commit_message if commit_message is not None else change.description
        return git_merge.merge_commit(
            git, base, change.head_sha, committer, committer, _message(message, body)
        )
    if method == "squash":
        message = title or f"{change.title} (#{change.number})"
        body = commit_message if commit_message is not None else change.description
        return git_merge.squash_commit(
            git, base, change.head_sha, change_author(change), committer, _message(message, body)
        )
    return git_merge.rebase_commits(git, base, change.head_sha, committer)


def record_merged(
    session: Session, change: Change, actor: User, method: str, new: str, base_url: str
) -> None:
    """What follows a change landing as `new`, however it landed (Merge, the merge queue)."""
    change.state = "merged"
    change.merged_at = change.closed_at = utcnow()
    change.merged_by = actor  # the relationship, not only its id: the payloads read it now
    change.merge_commit_sha = new
    session.add(
        ChangeEvent(change_id=change.id, actor_id=actor.id, kind="merged", detail=f"{method}:{new}")
    )
    events.publish(session, events.ChangeMerged(change=change, sender=actor, base_url=base_url))


def check_submit_requirements(
    session: Session, repos_dir: Path, change: Change, actor: User
) -> None:
    """The quality gate (forge.gate.quality_gate): a change merges once its submit requirements
    are met. A repository admin may merge it anyway, as GitHub lets admins bypass branch
    protection, unless the branch's protection enforces its rules for admins too; what the
    bypass skipped goes on the change's timeline. So a solo owner can always land their work."""
    status = submit_status(session, repos_dir, change)
    if status.ready:
        return
    unmet = "; ".join(status.unmet)
    if not admin_may_bypass(session, actor, change):
        enforced = can(session, actor, "admin", change.repository)
        raise Invalid(
            f"the submit requirements are not met: {unmet}"
            + (f" (the protection of {change.base_branch} enforces them for admins too)"
               if enforced else ""),
            field="merge",
        )  # fmt: skip
    session.add(ChangeEvent(change_id=change.id, actor_id=actor.id, kind="bypassed", detail=unmet))


def change_author(change: Change) -> git_merge.Identity:
    return git_merge.Identity(change.author.full_name or change.author.name, change.author.email)


def _message(title: str, body: str | None) -> str:
    body = (body or "").strip()
    return f"{title}\n\n{body}\n" if body else f"{title}\n"


def delete_head_branch(
    session: Session, repos_dir: Path, change: Change, actor: User, config: RefChangeSettings
) -> None:
    """After a merge, delete the branch the change came from (in this repository)."""
    if change.state != "merged" or change.head_branch is None:
        raise Invalid("only a merged change's branch can be deleted here")
    if change.head_repository_id != change.repository_id:
        raise Forbidden("the branch lives in a fork; delete it there")
    with open_git(repos_dir, change.repository) as git:
        ref = f"refs/heads/{change.head_branch}"
        old = git_refs.current_value(git, ref)
        if old == git_refs.ZERO:
            raise Invalid(f"the branch {change.head_branch} is already gone")
        update_refs(
            session,
            change.repository,
            git,
            actor,
            [RefUpdate(ref, old, git_refs.ZERO)],
            config,
            via="web",
        )
