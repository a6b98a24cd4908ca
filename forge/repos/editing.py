"""Changing one file as a commit on a branch (GitHub's PUT and DELETE of contents).

The commit is made without a work tree and the branch moves through `update_refs`, the one
way every ref changes: branch protection refuses it as it refuses a push, and the push's
records and events (webhooks, CI) follow as for a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Conflict, Forbidden, Invalid, NotFound
from forge.git import authoring
from forge.git import refs as git_refs
from forge.git.merge import Identity
from forge.git.refs import RefUpdate
from forge.models import Repository, User
from forge.repos.branches import open_git
from forge.repos.refs import RefChangeSettings, update_refs


@dataclass(frozen=True)
class FileCommit:
    """What a write made: the new commit on `branch`, and the file's blob (None: deleted)."""

    branch: str
    commit: str
    blob: str | None
    created: bool


@dataclass(frozen=True)
class Person:
    """An author or committer named in the request; None fields fall back to the actor."""

    name: str | None = None
    email: str | None = None


def _identity(person: Person | None, actor: User) -> Identity:
    name = (person.name if person else None) or actor.full_name or actor.name
    email = (person.email if person else None) or actor.email
    return Identity(name, email)


def write_file(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    path: str,
    content: bytes | None,
    message: str,
    config: RefChangeSettings,
    *,
    branch: str | None = None,
    expected_sha: str | None = None,
    author: Person | None = None,
    committer: Person | None = None,
) -> FileCommit:
    """Write `content` to `path` on `branch` (None: delete the file) as one new commit.

    Replacing or deleting a file needs `expected_sha`, the blob id the caller last read, so
    an edit made meanwhile is never overwritten unseen (Conflict when they differ).
    """
    require(session, actor, "write", repo)
    if not message or not message.strip():
        raise Invalid("message is required", field="message")
    branch = branch or repo.default_branch
    try:
        git_refs.check_branch_name(branch)
    except ValueError as exc:
        raise Invalid(str(exc), field="branch") from None
    ref = f"refs/heads/{branch}"
    with open_git(repos_dir, repo) as git:
        old_tip = git_refs.current_value(git, ref)
        parent = None if old_tip == git_refs.ZERO else old_tip
        if parent is None and git.refs.as_dict(b"refs/heads"):
            raise NotFound(f"Branch {branch} not found")
        try:
            existing = authoring.file_at(git, parent, path)
        except authoring.AuthoringError as exc:
            raise Invalid(str(exc), field="path") from None
        if content is None and existing is None:
            raise NotFound(f"{path} is not on {branch}")
        if existing is not None:
            if expected_sha is None:
                raise Invalid(f'"sha" wasn\'t supplied: {path} exists on {branch}', field="sha")
            if expected_sha != existing[1]:
                raise Conflict(f"{path} does not match {expected_sha}: it changed on {branch}")
        # As GitHub: the committer is the caller unless named, the author the committer.
        committed_by = _identity(committer, actor)
        written_by = _identity(author, actor) if author else committed_by
        try:
            new = authoring.commit_file(
                git, parent, path, content, written_by, committed_by, message
            )
        except authoring.AuthoringError as exc:
            raise Invalid(str(exc), field=exc.field) from None
        try:
            update_refs(
                session, repo, git, actor, [RefUpdate(ref, old_tip, new)], config, via="api"
            )
        except Forbidden as exc:
            # The branch's protection refused, as for a push: the request is in conflict with
            # the branch's rules, not beyond the caller's rights (GitHub answers 409 too).
            raise Conflict(str(exc)) from None
        blob = None if content is None else authoring.file_at(git, new, path)[1]
    return FileCommit(branch, new, blob, created=existing is None)
