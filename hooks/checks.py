"""Pre-receive checks: each raises `Refused` with a reason, or returns to let the change on."""

from __future__ import annotations

from sqlalchemy import select

from forge.accounts.permissions import ROLE_RANK
from forge.git.refs import is_ancestor
from forge.models import BranchProtection, CommitStatus
from forge.repos import push_protection

from .context import PushContext, Refused

# Refs people may push to directly. refs/pull/* and refs/for/* belong to change requests.
WRITABLE_PREFIXES = ("refs/heads/", "refs/tags/")


def writable_refs(ctx: PushContext) -> None:
    for update in ctx.updates:
        if not update.ref.startswith(WRITABLE_PREFIXES):
            raise Refused(
                f"{update.ref}: only branches (refs/heads/) and tags (refs/tags/) can be pushed"
            )


def write_permission(ctx: PushContext) -> None:
    if ctx.role is None or ROLE_RANK[ctx.role] < ROLE_RANK["write"]:
        branch = next((u.branch for u in ctx.updates if u.branch and not u.deleted), None)
        raise Refused(
            f"you may not push to {ctx.repository.full_name}: it needs the write role"
            + (how_to_propose(ctx, branch) if branch else "")
        )


def objects_are_commits_for_branches(ctx: PushContext) -> None:
    for update in ctx.updates:
        if update.branch is not None and not update.deleted:
            obj = ctx.git.object_store[update.new.encode()]
            if obj.type_name != b"commit":
                raise Refused(
                    f"{update.ref}: a branch must point at a commit, not a {obj.type_name.decode()}"
                )


def _protection(ctx: PushContext, branch: str) -> BranchProtection | None:
    return ctx.session.scalar(
        select(BranchProtection).where(
            BranchProtection.repository_id == ctx.repository.id, BranchProtection.branch == branch
        )
    )


def how_to_propose(ctx: PushContext, branch: str) -> str:
    """The `remote:` lines after a refusal on a git push that say how the change can still
    land: uploaded for review to refs/for/BRANCH, or pushed to a fork and proposed from there."""
    if ctx.via != "push":
        return ""  # a merge or an API call: the caller is not at a git prompt
    refs_for = (
        "\nhint: to propose this change for review instead, push it to refs/for/:"
        f"\nhint:   git push origin HEAD:refs/for/{branch}"
    )
    if ctx.pusher is not None and ctx.pusher.id == ctx.repository.owner_id:
        return refs_for  # nobody forks their own repository
    fork_page = f"{ctx.base_url.rstrip('/')}/{ctx.repository.full_name}/fork"
    return (
        refs_for + f"\nhint: or fork {ctx.repository.full_name} at {fork_page}, push your branch"
        f"\nhint: to the fork and open a change from it to {branch}."
    )


def branch_protection(ctx: PushContext) -> None:
    for update in ctx.updates:
        if update.branch is None:
            continue
        forced = (
            not update.created
            and not update.deleted
            and not is_ancestor(ctx.git, update.old, update.new)
        )
        if forced:
            ctx.forced.add(update.ref)
        rule = _protection(ctx, update.branch)
        if rule is None:
            continue
        if ctx.role == "admin" and not rule.enforce_admins:
            if update.deleted or forced or rule.required_approving_review_count:
                ctx.say(f"Bypassed the protection of {update.branch} as a repository admin.")
            continue
        name = update.branch
        if update.deleted and not rule.allow_deletions:
            raise Refused(f"{name} is a protected branch: it cannot be deleted")
        if forced and not rule.allow_force_pushes:
            raise Refused(
                f"{name} is a protected branch: force-pushes are not allowed (pull and merge first)"
                + how_to_propose(ctx, name)
            )
        if update.deleted:
            continue
        required = rule.required_approving_review_count
        if required and ctx.change is None:
            raise Refused(
                f"{name} is a protected branch: changes must go through a reviewed change request "
                f"({required} approving review(s) required)" + how_to_propose(ctx, name)
            )
        if required and ctx.approvals < required:
            raise Refused(
                f"{name} is a protected branch: {required} approving review(s) required, "
                f"change #{ctx.change.number} has {ctx.approvals}"
            )
        # A merged change is judged by its head's statuses, as on GitHub, not by the new
        # merge commit that nothing has tested yet.
        tested = ctx.change.head_sha if ctx.change is not None else update.new
        missing = _unmet_status_checks(ctx, rule, tested)
        if missing:
            raise Refused(
                f"{name} is a protected branch: required status checks have not passed on "
                f"{tested[:12]}: {', '.join(missing)}" + how_to_propose(ctx, name)
            )


def _unmet_status_checks(ctx: PushContext, rule: BranchProtection, sha: str) -> list[str]:
    contexts = rule.required_contexts
    if not contexts:
        return []
    rows = ctx.session.scalars(
        select(CommitStatus)
        .where(CommitStatus.repository_id == ctx.repository.id, CommitStatus.sha == sha)
        .order_by(CommitStatus.id)
    )
    latest = {row.context: row.state for row in rows}
    return [c for c in contexts if latest.get(c) != "success"]


def no_secrets(ctx: PushContext) -> None:
    """Push protection: last, so a push refused for who may push is never scanned."""
    if ctx.change is not None:
        return  # a change being merged: its commits were scanned when they were pushed
    refusal = push_protection.check_push(
        ctx.session,
        ctx.git,
        ctx.repository,
        ctx.pusher,
        ctx.updates,
        site_default=ctx.push_protection,
        base_url=ctx.base_url,
        signing_key=ctx.signing_key,
        say=ctx.say,
    )
    if refusal is not None:
        raise Refused(refusal)


PRE_RECEIVE = [
    writable_refs,
    write_permission,
    objects_are_commits_for_branches,
    branch_protection,
    no_secrets,
]
