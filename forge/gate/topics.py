"""A topic submitted whole, as Gerrit's `change.submitWholeTopic`: submitting one change of a
topic submits every open change of the repository with that topic (on whatever branch it
targets, as Gerrit's does) and the open changes they depend on, parents first, or none.

This is the one place that knows what a topic's submission holds and whether it may land:
`%submit` on a push (`forge.gate.uploads`), the Merge button and the API's merge
(`forge.gate.merge_queue.submit`) and the merge queue's entries all ask it. Every change is
checked before the first ref moves, so a refusal names the change that blocks and why, and
leaves every branch where it was; the changes of one branch then land as one ref update.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts import reputation
from forge.accounts.permissions import require
from forge.db import RowBusy, lock_row
from forge.errors import Conflict, ForgeError, Invalid
from forge.gate import merging
from forge.gate.quality_gate import admin_may_bypass, submit_status
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.models import Change, ChangeEvent, User
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings, update_refs


def submission(session: Session, asked: list[Change]) -> list[Change]:
    """What submitting `asked` merges: them, their topics' open changes and the open changes
    those depend on, each after the change it depends on."""
    found: dict[int, Change] = {}
    pending = list(asked)
    for change in asked:
        if change.topic:
            pending += session.scalars(
                select(Change).where(
                    Change.repository_id == change.repository_id,
                    Change.topic == change.topic,
                    Change.state == "open",
                )
            ).all()
    while pending:
        change = pending.pop()
        if change.id in found or change.state != "open":
            continue
        found[change.id] = change
        if change.depends_on is not None:
            pending.append(change.depends_on)
    ordered: list[Change] = []
    placed: set[int] = set()

    def place(change: Change) -> None:
        if change.id in placed:
            return
        placed.add(change.id)
        parent = change.depends_on
        if parent is not None and parent.id in found:
            place(parent)
        ordered.append(change)

    for change in sorted(found.values(), key=lambda c: c.number):
        place(change)
    return ordered


def is_whole_topic(batch: list[Change]) -> bool:
    """More than the asked change lands: the submission must be decided as one."""
    return len(batch) > 1


def blocker(
    session: Session, repos_dir: Path, actor: User, change: Change, batch_ids: set[int]
) -> str | None:
    """Why `change` may not land with the rest of its submission (`batch_ids`), or None:
    what merging one change asks (`merging.check_can_merge`), except that the change it
    depends on may land in the same submission; and its submit requirements, which a
    repository admin may bypass as on the Merge button."""
    try:
        require(session, actor, "write", change.repository)
    except ForgeError as exc:
        return exc.message
    if change.state != "open":
        return f"it is {change.state}"
    if reputation.is_audit(session, change):
        return "it is an audit and is never merged"
    if change.work_in_progress:
        return "it is work in progress; mark it ready first (or push with %ready)"
    parent = change.depends_on
    if parent is not None and parent.state != "merged" and parent.id not in batch_ids:
        return f"it depends on change #{parent.number}, which is {parent.state}"
    status = submit_status(session, repos_dir, change)
    if not status.ready and not admin_may_bypass(session, actor, change):
        return "the submit requirements are not met: " + "; ".join(status.unmet)
    return None


def check_submittable(
    session: Session, repos_dir: Path, actor: User, batch: list[Change]
) -> dict[int, str]:
    """Refuse, naming the first change that blocks, before anything lands; returns the unmet
    submit requirements an admin's merge bypasses, by change id."""
    ids = {change.id for change in batch}
    bypassed: dict[int, str] = {}
    for change in batch:
        why = blocker(session, repos_dir, actor, change, ids)
        if why is not None:
            raise Invalid(
                f"change #{change.number} cannot be submitted: {why}" + topic_note(change, batch),
                field="merge",
            )
        status = submit_status(session, repos_dir, change)
        if not status.ready:
            bypassed[change.id] = "; ".join(status.unmet)
    return bypassed


def topic_note(change: Change, batch: list[Change]) -> str:
    if not is_whole_topic(batch):
        return ""
    topic = next((c.topic for c in batch if c.topic), None)
    return f" (the topic {topic!r} is submitted whole: nothing was merged)"


def merge_together(
    session: Session,
    repos_dir: Path,
    actor: User,
    batch: list[Change],
    method: str,
    config: RefChangeSettings,
    *,
    via: str = "web",
    asked: Change | None = None,
    expected_head_sha: str | None = None,
    commit_title: str | None = None,
    commit_message: str | None = None,
) -> dict[int, str]:
    """Land every change of `batch` (ordered by `submission`), each branch's as one ref
    update; returns the commit each landed as, by change id. Nothing lands unless all do."""
    repository = batch[0].repository  # write access: each change's check says who lacks it
    if method not in merging.METHODS:
        merging.check_can_merge(session, batch[0], method)  # the one message for a bad method
    with open_git(repos_dir, repository) as git, git_refs.locked_refs(git):
        # The ref lock, then the rows, in the order merge_change takes them (see there).
        for change in batch:
            try:
                lock_row(session, change)
            except RowBusy:
                raise Conflict(
                    f"change #{change.number} is being changed by another request; reload it"
                ) from None
        bypassed = check_submittable(session, repos_dir, actor, batch)
        if asked is not None:
            merging.check_head(asked, expected_head_sha)
        landed, tips = _landing_commits(git, actor, batch, method, asked, commit_title,
                                        commit_message)  # fmt: skip
        moved: list[RefUpdate] = []
        try:
            for branch, (base, new) in tips.items():
                on_branch = [c for c in batch if c.base_branch == branch]
                update = RefUpdate(f"refs/heads/{branch}", base, new)
                update_refs(
                    session, repository, git, actor, [update], config, via=via,
                    change=on_branch[-1],
                    # Branch protection's required reviews hold for every change landing.
                    approvals=min(merging.approvals(session, c) for c in on_branch),
                )  # fmt: skip
                moved.append(update)
        except BaseException:
            git_refs.undo_updates(git, moved)  # one branch refused: the others go back too
            raise
    for change in batch:
        if change.id in bypassed:  # an admin's bypass, on the timeline as merge_change puts it
            session.add(
                ChangeEvent(change_id=change.id, actor_id=actor.id, kind="bypassed",
                            detail=bypassed[change.id])
            )  # fmt: skip
        merging.record_merged(session, change, actor, method, landed[change.id], config.base_url)
    return landed


def _landing_commits(git, actor, batch, method, asked, commit_title, commit_message):
    """Each change's landing commit, each on the one before it on its branch; no ref moves."""
    identity = git_merge.Identity(actor.full_name or actor.name, actor.email)
    tips: dict[str, tuple[str, str]] = {}
    landed: dict[int, str] = {}
    for change in batch:
        branch = change.base_branch
        if branch in tips:
            base, on = tips[branch]
        else:
            base = on = git_refs.current_value(git, f"refs/heads/{branch}")
            if base == git_refs.ZERO:
                raise Invalid(f"change #{change.number} cannot be submitted: the branch "
                              f"{branch} no longer exists", field="merge")  # fmt: skip
        own = change is asked
        try:
            new = merging.landing_commit(
                git, on, change, method, identity,
                (commit_title or "").strip() if own else "",
                commit_message if own else None,
            )  # fmt: skip
        except git_merge.MergeConflict as exc:
            raise Invalid(
                f"change #{change.number} cannot be submitted: it conflicts with {branch}"
                f"{' and the changes before it' if branch in tips else ''} in "
                f"{', '.join(exc.paths)}; it needs a rebase" + topic_note(change, batch),
                field="merge",
            ) from None
        tips[branch] = (base, new)
        landed[change.id] = new
    return landed, tips
