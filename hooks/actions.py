"""Post-receive actions: run once the refs moved. They record and announce; they never refuse."""

from __future__ import annotations

from urllib.parse import quote

from forge import outbox
from forge.db import after_rollback, utcnow
from forge.git.refs import RefUpdate
from forge.models import PushEvent

from .context import PushContext


def record_push(ctx: PushContext) -> None:
    for update in ctx.updates:
        ctx.session.add(
            PushEvent(
                repository_id=ctx.repository.id,
                pusher_id=ctx.pusher.id if ctx.pusher else None,
                ref=update.ref,
                before=update.old,
                after=update.new,
                forced=update.ref in ctx.forced,
                via=ctx.via,
            )
        )
    ctx.repository.pushed_at = utcnow()


def adopt_first_branch(ctx: PushContext) -> None:
    """When the default branch does not exist yet, HEAD follows what was pushed, as git and
    GitHub choose (`first_push_default_branch`)."""
    repo = ctx.repository
    if f"refs/heads/{repo.default_branch}".encode() in ctx.git.refs:
        return
    branch = first_push_default_branch(repo.default_branch, ctx.updates)
    if branch is None or branch == repo.default_branch:
        return
    old_branch, git = repo.default_branch, ctx.git
    repo.default_branch = branch
    git.refs.set_symbolic_ref(b"HEAD", f"refs/heads/{branch}".encode())
    # The row goes back if the push is not recorded; HEAD must go back with it.
    after_rollback(
        ctx.session,
        lambda: git.refs.set_symbolic_ref(b"HEAD", f"refs/heads/{old_branch}".encode()),
    )


def first_push_default_branch(current: str, updates: list[RefUpdate]) -> str | None:
    """The default branch when the first branches land in a repository without its default
    branch, as git and GitHub choose it: the one already set if it was pushed, else `main`,
    else `master`, else the first branch in the push's own order. (The first alone made
    git.git's `bisect` the default: `git push --all` sends branches in alphabetical order.)
    None when no branch was created."""
    pushed = [u.branch for u in updates if u.branch is not None and u.created]
    for branch in (current, "main", "master"):
        if branch in pushed:
            return branch
    return pushed[0] if pushed else None


def suggest_change_request(ctx: PushContext) -> None:
    """Like GitHub: after pushing a new branch, show where to open a change request for it."""
    if ctx.via != "push":
        return
    default = ctx.repository.default_branch
    for update in ctx.updates:
        if update.branch and update.created and update.branch != default:
            url = (
                f"{ctx.base_url}/{ctx.repository.full_name}/compare/"
                f"{quote(default, safe='/')}...{quote(update.branch, safe='/')}"
            )
            ctx.say("")
            ctx.say(f"Create a change request for '{update.branch}' on forge by visiting:")
            ctx.say(f"     {url}")
            ctx.say("")


def update_changes(ctx: PushContext) -> None:
    """A push to a branch that open changes come from adds a patch set to each."""
    from forge.review.changes import follow_branch_pushes

    if ctx.repos_dir is None:
        return
    for change, patch_set in follow_branch_pushes(
        ctx.session, ctx.repos_dir, ctx.repository, ctx.pusher, ctx.updates
    ):
        ctx.say(
            f"Updated change #{change.number} (patch set {patch_set.number}): "
            f"{ctx.base_url}/{change.repository.full_name}/pull/{change.number}"
        )


def schedule_ci(ctx: PushContext) -> None:
    """A push to a branch asks for a CI run of its new head (not deleting it, not for tags).

    The runs are rows in this push's transaction; once it commits, a `ci` queue job puts
    their jobs on the queue (forge.ci.runs). Runs before update_changes, so the changes'
    new patch sets find the run and link to it.
    """
    from pathlib import Path

    from forge.ci import runs as ci

    if ctx.enqueue is not None:
        ctx.session.info["forge.enqueue"] = ctx.enqueue
    ctx.session.info["forge.base_url"] = ctx.base_url
    for update in ctx.updates:
        if update.branch and not update.deleted:
            ci.request_run(
                ctx.session,
                Path(ctx.git.path),
                ctx.repository,
                update.new,
                event_name="push",
                ref=update.branch,
                actor=ctx.pusher,
            )


def rebase_merge_queue(ctx: PushContext) -> None:
    """A push to a branch from outside its merge queue moved the tip the queue was built on:
    the queue is rebuilt and tested again on the new tip (forge.gate.merge_queue)."""
    from forge.gate import merge_queue, merge_queue_advance

    if ctx.via == merge_queue.VIA:
        return
    for update in ctx.updates:
        if update.branch and not update.created:
            merge_queue_advance.on_branch_moved(
                ctx.session, ctx.repository, update.branch, ctx.base_url
            )


def schedule_maintenance(ctx: PushContext) -> None:
    """A push added a pack; merge the packs in the background so clones stay fast."""
    if any(not u.deleted for u in ctx.updates):
        # After the push's commit (forge.outbox): never for a push that was rolled back.
        outbox.put(ctx.session, "default", "forge.jobs.maintain_repository",
                   str(ctx.git.path), enqueue=ctx.enqueue)  # fmt: skip


def schedule_code_index(ctx: PushContext) -> None:
    """A push moved (or deleted) the default branch: bring its code index up to date in the
    background, once the push commits (forge.search.code_index)."""
    branch = ctx.repository.default_branch
    if any(update.branch == branch for update in ctx.updates):
        outbox.put(ctx.session, "default", "forge.jobs.index_code", ctx.repository.id,
                   str(ctx.git.path), enqueue=ctx.enqueue)  # fmt: skip


def announce_to_webhooks(ctx: PushContext) -> None:
    """Record push, create and delete events (a change's new patch set announces itself, see
    forge.review.changes.add_patch_set); deliveries are queued once the push's transaction
    commits."""
    from forge.git.pushlog import pushed_commits
    from forge.notify import webhook_recording

    repo, emit = ctx.repository, webhook_recording.emit
    for update in ctx.updates:
        kind, name = ("branch", update.branch) if update.branch else ("tag", update.tag)
        if name is not None and (update.created or update.deleted):
            event = "create" if update.created else "delete"
            emit(ctx.session, repo, event, ctx.base_url, ref=name, ref_type=kind, sender=ctx.pusher)
        if not update.ref.startswith(("refs/heads/", "refs/tags/")):
            continue
        # Listing the pushed commits costs a history walk: only when a receiver wants them.
        if webhook_recording.wanted(ctx.session, repo, "push"):
            commits = pushed_commits(ctx.git, update.ref, update.old, update.new)
            forced = update.ref in ctx.forced
            emit(ctx.session, repo, "push", ctx.base_url, update=update, forced=forced,
                 commits=commits, pusher=ctx.pusher)  # fmt: skip


def settle_reverts(ctx: PushContext) -> None:
    """A branch received commits saying "This reverts commit <sha>" of a change merged into
    it within the window: its author and approvers lose reputation (forge.accounts.reputation).
    A revert landing by merging a revert change passes here too, as every merge does."""
    from forge.accounts import reputation
    from forge.git.merge import commits_between
    from forge.git.pushlog import pushed_messages

    for update in ctx.updates:
        if not update.branch or update.created or update.deleted:
            continue
        messages = pushed_messages(ctx.git, update.old, update.new)
        if not reputation.reverted_shas(messages):
            continue

        def commits_of(change):
            patch_set = change.current_patch_set
            return commits_between(ctx.git, patch_set.base_sha, patch_set.head_sha)

        for change in reputation.settle_reverts_in_push(
            ctx.session, ctx.repository, messages, commits_of, branch=update.branch
        ):
            ctx.say(f"Change #{change.number} was reverted: its author and approvers lose "
                    "reputation")  # fmt: skip


POST_RECEIVE = [
    record_push,
    adopt_first_branch,
    suggest_change_request,
    schedule_ci,
    update_changes,
    rebase_merge_queue,
    schedule_maintenance,
    schedule_code_index,
    settle_reverts,
    announce_to_webhooks,
]
