"""Moving refs: the one way every ref in forge changes (push, web merge, API call).

`update_refs` takes the repository's ref lock, runs the pre-receive checks in `hooks/`,
applies all updates atomically (compare-and-swap on each old value) and then runs the
post-receive actions, so protection and records apply whatever moved the ref.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from dulwich.repo import Repo
from sqlalchemy.orm import Session

import hooks
from forge.git import refs as git_refs
from forge.git.refs import RefUpdate
from forge.git.smart_http import Incoming
from forge.models import Repository, User
from forge.services.errors import Forbidden, Invalid
from forge.services.permissions import role_of


@dataclass
class RefChangeSettings:
    base_url: str
    max_object_bytes: int
    # Puts a background job on a queue: enqueue(queue_name, "module.function", *args).
    enqueue: Callable[..., object] | None = None


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
) -> None:
    """Check and apply ref updates; raises Forbidden (refused) or Invalid (stale) otherwise.

    `incoming` holds a push's objects: the checks read them, and only once every check
    passed do they become part of the repository.
    """
    for update in updates:
        try:
            git_refs.check_ref_name(update.ref)
        except ValueError as exc:
            raise Invalid(str(exc), field="ref") from None
    context = hooks.PushContext(
        session=session,
        repository=repository,
        git=git,
        pusher=pusher,
        role=role_of(session, pusher, repository),
        updates=updates,
        say=say,
        base_url=config.base_url,
        via=via,
        options=options or {},
        max_object_bytes=config.max_object_bytes,
        enqueue=config.enqueue,
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
        hooks.run_post_receive(context)
        session.flush()
