"""Moving refs: the one way every ref in forge changes (push, web merge, API call).

`update_refs` takes the repository's ref lock, runs the pre-receive checks in `hooks/`,
applies all updates atomically (compare-and-swap on each old value) and then runs the
post-receive actions, so protection and records apply whatever moved the ref.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy.orm import Session

from forge import queue
from forge.accounts.permissions import role_of
from forge.config import Settings
from forge.errors import Forbidden, Invalid, NotFound
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.git.smart_http import Incoming
from forge.models import Repository, User
from forge.receive_hooks import hooks


@dataclass
class RefChangeSettings:
    base_url: str
    max_object_bytes: int
    # Puts a background job on a queue: enqueue(queue_name, "module.function", *args).
    enqueue: Callable[..., object] | None = None
    repos_dir: Path | None = None
    # Push protection where a repository has no setting of its own, and the key its links
    # are signed with (forge.repos.push_protection).
    push_protection: bool = True
    signing_key: str = ""

    @classmethod
    def build(cls, settings: Settings, redis_connection, base_url: str) -> RefChangeSettings:
        return cls(
            base_url=settings.base_url or base_url,
            max_object_bytes=settings.max_object_bytes,
            enqueue=lambda queue_name, func, *args: queue.enqueue(
                redis_connection, queue_name, func, *args
            ),
            repos_dir=settings.repos_dir,
            push_protection=settings.push_protection,
            signing_key=settings.secret_key,
        )


def update_refs(
    session: Session,
    repository: Repository,
    git: Repo,
    pusher: User | None,
    updates: list[RefUpdate],
    config: RefChangeSettings,
    say: Callable[[str], None] = lambda _line: None,
    via: str = "push",
    options: dict[str, str] | None = None,
    incoming: Incoming | None = None,
    change=None,
    approvals: int = 0,
    role: str | None = None,
) -> None:
    """Check and apply ref updates; raises Forbidden (refused) or Invalid (stale) otherwise.

    `role`: the role the checks see instead of the pusher's own (the merge queue landing a
    change the gate passed, for a merger who may not push themself).

    `incoming` holds a push's objects: the checks read them, and only once every check
    passed do they become part of the repository.
    """
    for update in updates:
        try:
            git_refs.check_ref_name(update.ref, creating=update.created)
        except ValueError as exc:
            raise Invalid(str(exc), field="ref") from None
    context = hooks.PushContext(
        session=session,
        repository=repository,
        git=git,
        pusher=pusher,
        role=role if role is not None else role_of(session, pusher, repository),
        updates=updates,
        say=say,
        base_url=config.base_url,
        via=via,
        options=options or {},
        max_object_bytes=config.max_object_bytes,
        enqueue=config.enqueue,
        repos_dir=config.repos_dir,
        push_protection=config.push_protection,
        signing_key=config.signing_key,
        change=change,
        approvals=approvals,
    )
    with git_refs.locked_refs(git):
        try:
            with incoming.visible() if incoming else nullcontext():
                hooks.run_pre_receive(context)
        except hooks.Refused as exc:
            raise Forbidden(str(exc)) from None
        if incoming is not None:
            incoming.accept()
        try:
            git_refs.apply_updates(git, updates)
        except git_refs.StaleRef as exc:
            raise Invalid(str(exc), field="ref") from None
        try:
            hooks.run_post_receive(context)
            session.flush()
        except BaseException:
            # What records the move cannot be kept (the database went away): refs moved
            # without it would be a change forge never saw, so they go back.
            git_refs.undo_updates(git, updates)
            raise


# --- refs changed through the API (GitHub's git/refs endpoints) ------------------------------


def _existing_object(git: Repo, sha: str) -> str:
    if not isinstance(sha, str) or len(sha) != 40 or sha.encode() not in git.object_store:
        raise Invalid("Object does not exist", field="sha")
    return sha


def create_ref(session, git, repository, actor, ref: str, sha: str, config) -> None:
    if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
        raise Invalid("ref must be a full name such as refs/heads/feature", field="ref")
    sha = _existing_object(git, sha)
    if git_refs.current_value(git, ref) != git_refs.ZERO:
        raise Invalid("Reference already exists", field="ref")
    update_refs(
        session, repository, git, actor, [RefUpdate(ref, git_refs.ZERO, sha)], config, via="api"
    )


def move_ref(session, git, repository, actor, ref: str, sha: str, force: bool, config) -> None:
    sha = _existing_object(git, sha)
    old = git_refs.current_value(git, ref)
    if old == git_refs.ZERO:
        raise NotFound("Reference does not exist")
    if not force and not git_refs.is_ancestor(git, old, sha):
        raise Invalid("Update is not a fast forward", field="sha")
    update_refs(session, repository, git, actor, [RefUpdate(ref, old, sha)], config, via="api")


def delete_ref(session, git, repository, actor, ref: str, config) -> None:
    old = git_refs.current_value(git, ref)
    if old == git_refs.ZERO:
        raise Invalid("Reference does not exist", field="ref")
    update_refs(
        session, repository, git, actor, [RefUpdate(ref, old, git_refs.ZERO)], config, via="api"
    )
