"""Uploads to refs/for/BRANCH, Gerrit's way: each new commit of the push is a change, found by
its Change-Id trailer within the repository and target branch; a commit on top of another is
a change depending on the other's (a chain).

Everything is decided first (`plan_uploads`, while the pushed objects are still quarantined),
then written (`receive_uploads`), so a refused push leaves no change, patch set or ref behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dulwich.repo import Repo
from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can
from forge.errors import Forbidden, Invalid
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.models import Change, Repository, User
from forge.review import chains, push_options, reviewers
from forge.review import changes as change_service
from forge.review.commit_msg_hook import change_id_of, install_command, without_change_id
from forge.review.push_options import MAGIC_PREFIX, PushOptions

__all__ = ["MAGIC_PREFIX", "Upload", "plan_uploads", "receive_uploads"]


@dataclass
class Step:
    """One commit of an upload: a new change (`change` None) or a new patch set of `change`."""

    sha: str
    change_id: str | None
    change: Change | None
    subject: str
    body: str


@dataclass
class Plan:
    ref: str
    branch: str
    options: PushOptions
    steps: list[Step]


@dataclass
class Upload:
    change: Change
    created: bool
    patch_set: int | None  # None: the same commit again, pushed for its options
    options: PushOptions


def plan_uploads(
    session: Session,
    git: Repo,
    repo: Repository,
    uploader: User,
    updates: list[RefUpdate],
    git_options: dict[str, str],
    base_url: str,
) -> list[Plan]:
    """Decide what each pushed ref to refs/for/* becomes, or raise naming what is wrong."""
    plans = []
    for pushed in updates:
        branch, ref_items = push_options.split_magic_ref(pushed.ref)
        options = push_options.parse(push_options.from_git(git_options) + ref_items)
        if pushed.deleted:
            raise Invalid(f"{pushed.ref}: there is nothing to delete under refs/for/")
        base_sha = git_refs.current_value(git, f"refs/heads/{branch}")
        if base_sha == git_refs.ZERO:
            raise Invalid(f"the target branch {branch!r} does not exist", field="target")
        if git.object_store[pushed.new.encode()].type_name != b"commit":
            raise Invalid(f"{pushed.ref}: push a commit")
        if git_merge.merge_base(git, base_sha, pushed.new) is None:
            raise Invalid(f"{pushed.ref}: the pushed commit has no history in common with {branch}")
        shas = git_merge.commits_between(git, base_sha, pushed.new)
        if not shas:
            raise Invalid(f"there are no commits between {branch} and the pushed commit")
        steps = [_step(session, git, repo, uploader, branch, sha, base_url) for sha in shas]
        _check_distinct(steps)
        unchanged = all(
            step.change is not None and step.change.head_sha == step.sha for step in steps
        )
        if unchanged and not options.says_something:
            raise Invalid(f"{pushed.ref}: no new changes; every commit is a change's current head")
        plans.append(Plan(pushed.ref, branch, options, steps))
    return plans


def _step(session, git, repo, uploader, branch, sha, base_url) -> Step:
    message = git.object_store[sha.encode()].message
    subject, _, body = message.decode("utf-8", "replace").partition("\n")
    change_id = change_id_of(message)
    if change_id is None and repo.require_change_id:
        raise Invalid(
            f"commit {sha[:12]} ({subject.strip()[:60]}) has no Change-Id in its message.\n"
            "hint: install forge's commit-msg hook, which adds one to every commit:\n"
            f"hint:   {install_command(base_url)}\n"
            "hint: (or run `git review -s`), then give the commit its Change-Id and push again:\n"
            "hint:   git commit --amend --no-edit"
        )
    change = None
    if change_id is not None:
        change = session.scalars(
            select(Change)
            .where(
                Change.repository_id == repo.id,
                Change.base_branch == branch,
                Change.gerrit_change_id == change_id,
            )
            .order_by(Change.number.desc())
        ).first()
    if change is not None:
        if change.state != "open":
            raise Invalid(
                f"commit {sha[:12]}: its Change-Id {change_id} belongs to change "
                f"#{change.number}, which is {change.state}; give the commit a new Change-Id "
                "(delete the trailer and amend) to propose it again"
            )
        may_upload = change.author_id == uploader.id or can(session, uploader, "write", repo)
        if not may_upload and change.head_sha != sha:
            raise Forbidden(
                f"commit {sha[:12]}: change #{change.number} belongs to {change.author.name}; "
                "only its owner and the repository's writers may upload a patch set to it. "
                "To propose your own version, give the commit a new Change-Id (delete the "
                "trailer and amend)"
            )
    return Step(sha, change_id, change, subject.strip(), body)


def _check_distinct(steps: list[Step]) -> None:
    seen: dict[str, str] = {}
    for step in steps:
        if step.change_id is None:
            continue
        if step.change_id in seen:
            raise Invalid(
                f"commits {seen[step.change_id][:12]} and {step.sha[:12]} have the same "
                f"Change-Id {step.change_id}; squash them or give one a new Change-Id"
            )
        seen[step.change_id] = step.sha


def receive_uploads(
    session: Session,
    git: Repo,
    repo: Repository,
    uploader: User,
    plans: list[Plan],
    say: Callable[[str], None],
    change_url: Callable[[Change], str],
) -> list[Upload]:
    """Write the planned changes and patch sets, in each chain's order (parents first)."""
    uploads = []
    for plan in plans:
        parent: Change | None = None
        for step in plan.steps:
            upload = _apply(session, git, repo, uploader, plan, step, parent)
            parent = upload.change if upload is not None else step.change
            if upload is None:
                continue
            uploads.append(upload)
            change = upload.change
            if upload.patch_set is None:
                say(f"Updated change #{change.number} (no new patch set): {change.title}")
            elif upload.created:
                say(f"Created change #{change.number}: {change.title}")
            else:
                number = upload.patch_set
                say(f"Updated change #{change.number} (patch set {number}): {change.title}")
            say(f"  {change_url(change)}")
    # Told once the whole push is in: a child re-pushed on its parent's new patch set is fine.
    for upload in uploads:
        if not upload.created and upload.patch_set is not None:
            chains.tell_stale_children(session, upload.change, uploader)
    return uploads


def _apply(session, git, repo, uploader, plan: Plan, step: Step, parent: Change | None):
    options = plan.options
    tip = step is plan.steps[-1]
    if step.change is not None:
        change = step.change
        if change.head_sha == step.sha:
            if step is plan.steps[-1] and options.says_something:
                # The same commit again, for its options (%ready, %topic=, r=, ...).
                _follow_options(session, uploader, change, options, parent)
                return Upload(change, False, None, options)
            return None  # unchanged in this push: the chain goes on from it
        patch_set = change_service.add_patch_set(
            session, git, change, uploader, step.sha, options.message, _on(parent)
        )
        _follow_options(session, uploader, change, options, parent)
        return Upload(change, False, patch_set.number, options)
    description = without_change_id(step.body)
    if tip and options.description is not None:
        description = options.description
    change = change_service.create_uploaded_change(
        session,
        git,
        repo,
        uploader,
        title=(options.title if tip and options.title else step.subject),
        description=description,
        base=plan.branch,
        head_sha=step.sha,
        parent_sha=_on(parent),
        topic=options.topic,
        gerrit_change_id=step.change_id,
        depends_on=parent if parent is not None and parent.state == "open" else None,
        work_in_progress=bool(options.work_in_progress),
        private=bool(options.private),
        message=options.message,
    )
    _follow_options(session, uploader, change, options, parent)
    return Upload(change, True, 1, options)


def _on(parent: Change | None) -> str | None:
    """The commit a chained change's patch set is shown against: its open parent's head."""
    return parent.head_sha if parent is not None and parent.state == "open" else None


def _follow_options(session, uploader, change: Change, options: PushOptions, parent) -> None:
    """What the options say about a change, new or updated (votes and submit are the gate's)."""
    # A new patch set sits on the branch itself or on another open change: say which.
    depends = parent is not None and parent.state == "open" and parent.id != change.id
    change.depends_on = parent if depends else None
    if options.topic is not None:
        change.topic = options.topic or None
    if options.work_in_progress is not None:
        change.work_in_progress = options.work_in_progress
    if options.private is not None:
        change.private = options.private
    if options.hashtags:
        tags = change.hashtag_list + [t for t in options.hashtags if t not in change.hashtag_list]
        change.hashtags = ",".join(tags)
    reviewers.add(session, uploader, change, options.reviewers, "reviewer")
    reviewers.add(session, uploader, change, options.cc, "cc")
