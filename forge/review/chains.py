"""Chains of changes (Gerrit's "relation chain"): a push of several commits opens one change
per commit, each depending on the change below it (`Change.depends_on`).

A change whose parent got a new patch set sits on an outdated version of it and "needs
rebase"; `rebase_change` moves it onto the parent's current patch set (or onto its target
branch once the parent merged) with forge.git's merge code, as a new patch set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Invalid
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.models import Change, PatchSet, User
from forge.repos.branches import open_git
from forge.review import changes as change_service
from forge.review import inbox

MAX_CHAIN = 100  # a guard against a loop, which the uploads never make


@dataclass
class ChainLink:
    change: Change
    current: bool  # the change being looked at
    needs_rebase: bool


def ancestors(change: Change) -> list[Change]:
    """The changes below `change`, nearest first."""
    found, seen = [], {change.id}
    parent = change.depends_on
    while parent is not None and parent.id not in seen and len(found) < MAX_CHAIN:
        found.append(parent)
        seen.add(parent.id)
        parent = parent.depends_on
    return found


def descendants(session: Session, change: Change) -> list[Change]:
    """The open changes above `change`, breadth first."""
    found, frontier, seen = [], [change.id], {change.id}
    while frontier and len(found) < MAX_CHAIN:
        children = session.scalars(
            select(Change)
            .where(Change.depends_on_id.in_(frontier), Change.state == "open")
            .order_by(Change.number)
        ).all()
        frontier = [c.id for c in children if c.id not in seen]
        seen.update(frontier)
        found.extend(c for c in children if c.id in frontier)
    return found


def needs_rebase(change: Change) -> bool:
    """The change sits on an older patch set of its open parent (a merged parent's commits are
    in the branch: the change merges as it is)."""
    parent = change.depends_on
    if change.state != "open" or parent is None or parent.state != "open":
        return False
    return change.current_patch_set.base_sha != parent.head_sha


def tell_stale_children(session: Session, change: Change, actor: User | None) -> None:
    """After a new patch set of `change`: the authors of the open changes left on its older
    patch set learn that theirs needs a rebase (in their inbox), unless they made it so."""
    children = session.scalars(
        select(Change).where(Change.depends_on_id == change.id, Change.state == "open")
    ).all()
    for child in children:
        if needs_rebase(child) and (actor is None or actor.id != child.author_id):
            inbox.notify(
                session,
                child.author_id,
                child,
                "needs_rebase",
                f"change #{change.number} has a new patch set; #{child.number} needs a rebase",
            )


def relation_chain(session: Session, change: Change) -> list[ChainLink]:
    """The whole chain around `change`, top (newest) first as Gerrit lists it; empty when the
    change stands alone."""
    below, above = ancestors(change), descendants(session, change)
    if not below and not above:
        return []
    ordered = list(reversed(above)) + [change] + below
    return [ChainLink(c, c.id == change.id, needs_rebase(c)) for c in ordered]


def rebase_change(session: Session, repos_dir: Path, actor: User, change: Change) -> PatchSet:
    """A new patch set of `change` on its parent's current patch set (or on the target branch
    once the parent merged or when it has none): its owner or a writer may ask."""
    if actor.id != change.author_id:
        require(session, actor, "write", change.repository)
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; only open changes rebase")
    parent = change.depends_on
    identity = git_merge.Identity(actor.full_name or actor.name, actor.email)
    with open_git(repos_dir, change.repository) as git, git_refs.locked_refs(git):
        if parent is not None and parent.state == "open":
            onto = parent.head_sha
        else:
            onto = git_refs.current_value(git, f"refs/heads/{change.base_branch}")
            if onto == git_refs.ZERO:
                raise Invalid(f"the target branch {change.base_branch} no longer exists")
        try:
            new = git_merge.rebase_onto(
                git, onto, change.current_patch_set.base_sha, change.head_sha, identity
            )
        except git_merge.MergeConflict as exc:
            raise Invalid(
                f"change #{change.number} conflicts with what it is rebased onto in "
                f"{', '.join(exc.paths)}; rebase it locally and upload it again"
            ) from None
        if new == change.head_sha:
            raise Invalid(f"change #{change.number} is already up to date")
        if parent is not None and parent.state != "open":
            change.depends_on = None  # its parent landed: it now sits on the branch
        patch_set = change_service.add_patch_set(
            session,
            git,
            change,
            actor,
            new,
            message="Rebased",
            parent_sha=onto if change.depends_on is not None else None,
        )
        tell_stale_children(session, change, actor)
    return patch_set
