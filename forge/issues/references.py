"""Cross-references and closing keywords.

`#N` and `OWNER/REPO#N` written in an issue, a comment, or a change's description or commit
messages name an issue or a change (they share numbers, so N is one or the other). Each is
recorded once per source and target (`IssueReference`) so both pages show it: an issue's
timeline gets a `cross-referenced` event, a change's page lists what refers to it and what it
refers to. A reference to a repository the writer cannot read is not recorded (nothing may
tell them it exists), and to a private repository it never shows to those who cannot read the
source either.

Closing keywords are GitHub's (close, closes, closed, fix, fixes, fixed, resolve, resolves,
resolved; any case, an optional colon): a change whose description or commits say
`Fixes #N` (or `OWNER/REPO#N` of the same repository) closes issue N when it merges, with a
`closed` event naming the change and the merge commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import can
from forge.models import Change, Issue, IssueEvent, IssueReference, Repository, User
from forge.repos.repositories import find_repository

REFERENCE = re.compile(
    r"(?<![\w/#&])(?:(?P<owner>[A-Za-z0-9][A-Za-z0-9-]{0,38})/(?P<repo>[A-Za-z0-9._-]{1,100}))?"
    r"#(?P<number>\d{1,9})\b"
)
CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?:(?P<owner>[A-Za-z0-9][A-Za-z0-9-]{0,38})/(?P<repo>[A-Za-z0-9._-]{1,100}))?"
    r"#(?P<number>\d{1,9})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Mention:
    owner: str | None
    repo: str | None
    number: int
    closes: bool


def mentions(text: str, *, closing: bool = False) -> list[Mention]:
    """The references in `text`, in order, once each; `closing` also marks closing keywords."""
    found: dict[tuple, Mention] = {}
    closers = set()
    if closing:
        for match in CLOSING.finditer(text or ""):
            closers.add((match["owner"], match["repo"], int(match["number"])))
    for match in REFERENCE.finditer(text or ""):
        key = (match["owner"], match["repo"], int(match["number"]))
        if key not in found:
            found[key] = Mention(*key, closes=key in closers)
    return list(found.values())


def resolve(
    session: Session, repo: Repository, viewer: User | None, mention: Mention
) -> Issue | Change | None:
    """The issue or change a reference names, if the viewer may read its repository."""
    target_repo = repo
    if mention.owner is not None:
        target_repo = find_repository(session, mention.owner, mention.repo)
        if target_repo is None:
            return None
    if target_repo.id != repo.id and not can(session, viewer, "read", target_repo):
        return None
    issue = session.scalar(
        select(Issue).where(Issue.repository_id == target_repo.id, Issue.number == mention.number)
    )
    if issue is not None:
        return issue
    return session.scalar(
        select(Change).where(
            Change.repository_id == target_repo.id, Change.number == mention.number
        )
    )


def record(
    session: Session,
    repo: Repository,
    actor: User | None,
    text: str,
    *,
    source_issue: Issue | None = None,
    source_change: Change | None = None,
    commit_id: str | None = None,
) -> list[IssueReference]:
    """Record the references `text` (written in `repo` by `actor`) makes from its source."""
    recorded = []
    for mention in mentions(text, closing=source_change is not None):
        target = resolve(session, repo, actor, mention)
        if target is None or target is source_issue or target is source_change:
            continue
        closes = (
            mention.closes
            and isinstance(target, Issue)
            and target.repository_id == repo.id
            and source_change is not None
        )
        recorded.append(_remember(session, actor, source_issue, source_change, target, closes,
                                  commit_id))  # fmt: skip
    return recorded


def _remember(session, actor, source_issue, source_change, target, closes, commit_id):
    is_issue = isinstance(target, Issue)
    query = select(IssueReference).where(
        IssueReference.source_issue_id == source_issue.id
        if source_issue is not None
        else IssueReference.source_change_id == source_change.id,
        IssueReference.target_issue_id == target.id
        if is_issue
        else IssueReference.target_change_id == target.id,
    )
    found = session.scalar(query)
    if found is not None:
        found.closes = found.closes or closes
        return found
    row = IssueReference(
        source_issue_id=source_issue.id if source_issue else None,
        source_change_id=source_change.id if source_change else None,
        target_issue_id=target.id if is_issue else None,
        target_change_id=None if is_issue else target.id,
        actor_id=actor.id if actor else None,
        closes=closes,
    )
    session.add(row)
    if is_issue:
        session.add(
            IssueEvent(
                issue_id=target.id,
                actor_id=actor.id if actor else None,
                event="referenced" if commit_id else "cross-referenced",
                commit_id=commit_id,
                source_issue_id=source_issue.id if source_issue else None,
                source_change_id=source_change.id if source_change else None,
            )
        )
    session.flush()
    return row


def _visible(session: Session, viewer: User | None, repo_id: int) -> bool:
    repo = session.get(Repository, repo_id)
    return repo is not None and can(session, viewer, "read", repo)


def referring_to(
    session: Session, viewer: User | None, *, issue: Issue | None = None, change=None
) -> list[IssueReference]:
    """What refers to an issue or a change, that the viewer may see."""
    query = select(IssueReference)
    if issue is not None:
        query = query.where(IssueReference.target_issue_id == issue.id)
    else:
        query = query.where(IssueReference.target_change_id == change.id)
    rows = list(session.scalars(query.order_by(IssueReference.id)))
    return [r for r in rows if _visible(session, viewer, _source_repo_id(r))]


def referred_by(session: Session, viewer: User | None, change: Change) -> list[IssueReference]:
    """What a change's description and commits refer to, that the viewer may see."""
    rows = session.scalars(
        select(IssueReference)
        .where(IssueReference.source_change_id == change.id)
        .order_by(IssueReference.id)
    )
    return [r for r in rows if _visible(session, viewer, _target_repo_id(r))]


def _source_repo_id(row: IssueReference) -> int:
    return (row.source_issue or row.source_change).repository_id


def _target_repo_id(row: IssueReference) -> int:
    return (row.target_issue or row.target_change).repository_id


def closing_issues(session: Session, change: Change) -> list[Issue]:
    rows = session.scalars(
        select(IssueReference).where(
            IssueReference.source_change_id == change.id, IssueReference.closes.is_(True)
        )
    )
    return [row.target_issue for row in rows if row.target_issue is not None]


# --- subscribers -----------------------------------------------------------------------------


def repos_dir_of(session: Session) -> Path:
    """Where repositories are, for a subscriber: the process's webhook dispatcher knows (web
    and workers alike), else the environment naming the forge's home."""
    dispatcher = session.info.get("webhooks")
    if dispatcher is not None and getattr(dispatcher, "repos_dir", None) is not None:
        return dispatcher.repos_dir
    from forge.config import Settings

    return Settings.from_env().repos_dir


def record_change(session: Session, change: Change, actor: User | None) -> None:
    """Record what a change's description and its commits' messages refer to."""
    from forge.repos.contents import change_commits

    record(session, change.repository, actor, change.description or "", source_change=change)
    try:
        commits = change_commits(repos_dir_of(session), change)
    except (OSError, KeyError, ValueError):
        commits = []  # the repository cannot be read here: the description still counts
    for commit in commits:
        record(session, change.repository, actor, commit.message, source_change=change)


def on_change_written(session: Session, event) -> None:
    """Subscriber of ChangeOpened, ChangeEdited and PatchSetUploaded."""
    record_change(session, event.change, event.sender or event.change.author)


def on_change_merged(session: Session, event) -> None:
    """Subscriber of ChangeMerged: close the issues the change says it fixes (those with a
    repro script close when CI sees it pass on the new tip: forge.issues.repro)."""
    from forge.issues import repro, tracker

    change = event.change
    record_change(session, change, event.sender)
    for issue in closing_issues(session, change):
        if issue.state == "open" and repro.repro_script(issue.body) is None:
            tracker.close_issue(
                session,
                issue,
                event.sender,
                "completed",
                commit_id=change.merge_commit_sha,
                change=change,
                base_url=event.base_url,
            )
