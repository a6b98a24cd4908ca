"""What a `git push` asks for: ref updates (branches, tags) and uploads of changes
(`git push HEAD:refs/for/main`), each through its own path.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

from dulwich.repo import Repo
from sqlalchemy.orm import Session

from forge.errors import Forbidden
from forge.git.refs import RefUpdate
from forge.git.smart_http import Incoming
from forge.models import Repository, User
from forge.repos import push_protection
from forge.repos.refs import RefChangeSettings, update_refs
from forge.review import uploads as upload_service
from forge.review.uploads import MAGIC_PREFIX, Upload


def receive_push(
    session: Session,
    repository: Repository,
    git: Repo,
    pusher: User | None,
    updates: list[RefUpdate],
    config: RefChangeSettings,
    say: Callable[[str], None],
    options: dict[str, str],
    incoming: Incoming | None,
) -> list[Upload]:
    """Apply the push; the changes and patch sets its uploads made, for what follows them
    (votes and submit, `forge.gate.uploads`)."""
    uploads = [u for u in updates if u.ref.startswith(MAGIC_PREFIX)]
    moves = [u for u in updates if not u.ref.startswith(MAGIC_PREFIX)]
    if uploads and pusher is None:
        raise Forbidden("sign in to upload a change")
    if uploads:
        # Before any ref moves, so a secret in an upload refuses the whole push.
        with incoming.visible() if incoming else nullcontext():
            refusal = push_protection.check_push(
                session,
                git,
                repository,
                pusher,
                uploads,
                site_default=config.push_protection,
                base_url=config.base_url,
                signing_key=config.signing_key,
                say=say,
            )
        if refusal is not None:
            raise Forbidden(refusal)
    if moves:
        update_refs(
            session,
            repository,
            git,
            pusher,
            moves,
            config,
            say,
            via="push",
            options=options,
            incoming=incoming,
        )
        incoming = None  # accepted with the ref updates
    if not uploads:
        return []
    # Planned while the objects are still in quarantine, so a refused upload leaves none.
    with incoming.visible() if incoming else nullcontext():
        plans = upload_service.plan_uploads(
            session, git, repository, pusher, uploads, options, config.base_url
        )
    if incoming is not None:
        incoming.accept()
    # Links in the webhook payloads of the new changes and patch sets point here.
    session.info.setdefault("forge.base_url", config.base_url)
    return upload_service.receive_uploads(
        session,
        git,
        repository,
        pusher,
        plans,
        say,
        change_url=lambda change: f"{config.base_url}/{repository.full_name}/pull/{change.number}",
    )
