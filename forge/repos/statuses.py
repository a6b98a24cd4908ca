"""Commit statuses: CI and people report a state per context on a commit."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import require
from forge.errors import Invalid, NotFound
from forge.git import refs as git_refs
from forge.models import CommitStatus, Repository, User
from forge.models.statuses import STATES
from forge.repos.branches import open_git

SHA_RE = re.compile(r"[0-9a-f]{40}")


def resolve_commit(repos_dir: Path, repo: Repository, ref: str) -> str:
    """A full commit sha for a sha, a branch name or a tag name."""
    with open_git(repos_dir, repo) as git:
        for name in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
            sha = git_refs.current_value(git, name)
            if sha != git_refs.ZERO:
                return git_refs.peel(git, sha)
        if SHA_RE.fullmatch(ref) and ref.encode() in git.object_store:
            return git_refs.peel(git, ref)
    raise NotFound(f"no commit found for {ref!r}")


def create_status(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    actor: User,
    sha: str,
    state: str,
    context: str = "default",
    description: str = "",
    target_url: str = "",
) -> CommitStatus:
    require(session, actor, "write", repo)
    if state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}", field="state")
    if not context or len(context) > 255:
        raise Invalid("context must have 1 to 255 characters", field="context")
    if target_url and not target_url.startswith(("http://", "https://")):
        raise Invalid("target_url must be an http(s) URL", field="target_url")
    sha = resolve_commit(repos_dir, repo, sha)
    status = CommitStatus(
        repository_id=repo.id,
        sha=sha,
        context=context,
        state=state,
        description=(description or "")[:1000],
        target_url=target_url or "",
        creator=actor,
    )
    session.add(status)
    session.flush()
    # Webhooks say `status`; the merge queue looks again (a required check may have passed).
    events.publish(session, events.StatusChanged(status=status, sender=actor, repo=repo))
    return status


def statuses_for(session: Session, repo: Repository, sha: str) -> list[CommitStatus]:
    """Every status on the commit, newest first (GitHub's order)."""
    return list(
        session.scalars(
            select(CommitStatus)
            .where(CommitStatus.repository_id == repo.id, CommitStatus.sha == sha)
            .order_by(CommitStatus.id.desc())
        )
    )


def checks_of(session: Session, repo: Repository, shas: list[str]) -> dict[str, list[CommitStatus]]:
    """The latest status per context of each commit that has any, in one query (for lists)."""
    if not shas:
        return {}
    by_sha: dict[str, list[CommitStatus]] = {}
    for status in session.scalars(
        select(CommitStatus)
        .where(CommitStatus.repository_id == repo.id, CommitStatus.sha.in_(set(shas)))
        .order_by(CommitStatus.id.desc())
    ):
        by_sha.setdefault(status.sha, []).append(status)
    return {sha: latest_per_context(found) for sha, found in by_sha.items()}


def latest_per_context(statuses: list[CommitStatus]) -> list[CommitStatus]:
    seen: dict[str, CommitStatus] = {}
    for status in statuses:  # newest first
        seen.setdefault(status.context, status)
    return sorted(seen.values(), key=lambda s: s.context)


def combined_state(latest: list[CommitStatus]) -> str:
    """GitHub's rule: failure if any failed or errored, pending if any pending or none."""
    states = {s.state for s in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"
