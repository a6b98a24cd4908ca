"""The triage queue, beside the review queue: the open reports that most need a look, first,
and claims that keep two triagers from looking at the same report at once.

Order: unconfirmed reports first (then those that need no triage, then confirmed ones); among
those, the fewest looks (peers' "I can reproduce this" or "cannot reproduce"); then the most
"me too" (👍 reactions on the report); then the oldest. A triager's queue skips their own
reports, those they already looked at and those someone else claimed, in the repositories
they may read. Claims work as the review queue's (`forge.gate.review_queue`): 30 minutes,
renewed by claiming again, at most `max_claims` live at once, a claim by someone without trust
in the repository yields to one with; a maintainer may free anyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, joinedload

from forge.accounts import privileges
from forge.accounts.permissions import can, require
from forge.db import utcnow
from forge.errors import Conflict, Forbidden, Invalid, NotFound
from forge.gate.review_queue import _readable, take_claim
from forge.models import Issue, Reaction, Repository, User
from forge.models.triage import IssueConfirmation, IssueTriageClaim

MAX_OFFSET = 2**31


@dataclass
class TriageItem:
    issue: Issue
    looks: int
    me_too: int
    claimed_by: User | None
    claim_expires_at: datetime | None


@dataclass
class TriagePage:
    items: list[TriageItem]
    has_next: bool


def triage_queue(
    session: Session,
    user: User,
    repository: Repository | None = None,
    limit: int = 30,
    offset: int = 0,
    now: datetime | None = None,
) -> TriagePage:
    """The page of the user's triage queue, the reports most in need of a look first."""
    if not user.is_active:
        return TriagePage([], False)
    if repository is not None:
        require(session, user, "read", repository)
    now = now or utcnow()
    # Past any real queue: a page number the database's integers cannot hold is an empty page.
    offset = max(0, min(offset, MAX_OFFSET))
    looks = (
        select(func.count())
        .select_from(IssueConfirmation)
        .where(IssueConfirmation.issue_id == Issue.id, IssueConfirmation.user_id != Issue.author_id)
        .correlate(Issue)
        .scalar_subquery()
    )
    me_too = (
        select(func.count())
        .select_from(Reaction)
        .where(
            Reaction.issue_id == Issue.id,
            Reaction.comment_id.is_(None),
            Reaction.content == "+1",
            Reaction.user_id != Issue.author_id,
        )
        .correlate(Issue)
        .scalar_subquery()
    )
    need = case(
        (Issue.triage_state == "unconfirmed", 0), (Issue.triage_state.is_(None), 1), else_=2
    )
    looked = select(IssueConfirmation.issue_id).where(IssueConfirmation.user_id == user.id)
    claimed_by_other = select(IssueTriageClaim.issue_id).where(
        IssueTriageClaim.user_id != user.id, IssueTriageClaim.expires_at > now
    )
    query = (
        select(Issue, looks.label("looks"), me_too.label("me_too"))
        .join(Repository, Repository.id == Issue.repository_id)
        .where(
            Issue.state == "open",
            Issue.author_id != user.id,
            Issue.id.not_in(looked),
            Issue.id.not_in(claimed_by_other),
        )
        .options(joinedload(Issue.repository))
    )
    if repository is not None:
        query = query.where(Issue.repository_id == repository.id)
    readable = _readable(user)
    if readable is not None:
        query = query.where(readable)
    rows = session.execute(
        query.order_by(need, looks, me_too.desc(), Issue.created_at, Issue.id)
        .limit(limit + 1)
        .offset(offset)
    ).all()
    claims = _my_claims(session, user, [issue.id for issue, _l, _m in rows], now)
    items = [
        TriageItem(
            issue,
            int(n_looks),
            int(n_me_too),
            user if issue.id in claims else None,
            claims.get(issue.id),
        )  # fmt: skip
        for issue, n_looks, n_me_too in rows[:limit]
    ]
    return TriagePage(items, len(rows) > limit)


def _my_claims(session: Session, user: User, issue_ids: list[int], now) -> dict[int, datetime]:
    if not issue_ids:
        return {}
    return dict(
        session.execute(
            select(IssueTriageClaim.issue_id, IssueTriageClaim.expires_at).where(
                IssueTriageClaim.issue_id.in_(issue_ids),
                IssueTriageClaim.user_id == user.id,
                IssueTriageClaim.expires_at > now,
            )
        ).all()
    )


# --- claims -------------------------------------------------------------------------------------


def claim_of(session: Session, issue: Issue, now: datetime | None = None):
    """The live claim on the issue, or None."""
    row = session.scalar(select(IssueTriageClaim).where(IssueTriageClaim.issue_id == issue.id))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row


def claim(
    session: Session, user: User, issue: Issue, max_claims: int, now: datetime | None = None
) -> IssueTriageClaim:
    """Claim the report for triage for 30 minutes (again: renewed)."""
    require(session, user, "read", issue.repository)
    if issue.state != "open":
        raise Invalid(f"issue #{issue.number} is closed; only open reports are triaged")
    if issue.author_id == user.id:
        raise Invalid("you cannot claim your own report for triage")
    return take_claim(
        session, user, IssueTriageClaim, IssueTriageClaim.issue_id, issue.id, max_claims,
        now=now or utcnow(),
        conflict=lambda row: _conflict(issue, row),
        outranks=lambda row: _outranks(session, user, row, issue),
    )  # fmt: skip


def _outranks(session: Session, user: User, existing: IssueTriageClaim, issue: Issue) -> bool:
    holder = session.get(User, existing.user_id)
    if holder is None:
        return True
    weights = privileges.standings(session, issue.repository, [user, holder])
    return weights[user.id].weight > 0 and weights[holder.id].weight <= 0


def _conflict(issue: Issue, row: IssueTriageClaim | None) -> Conflict:
    if row is None:
        return Conflict(f"issue #{issue.number} was just claimed by someone else")
    until = row.expires_at.strftime("%H:%M")
    return Conflict(f"issue #{issue.number} is claimed by {row.user.name} until {until} UTC")


def release(session: Session, user: User, issue: Issue, now: datetime | None = None) -> None:
    """Give up one's claim. A maintainer may free a report someone else claimed."""
    require(session, user, "read", issue.repository)
    existing = claim_of(session, issue, now)
    if existing is None:
        raise NotFound(f"issue #{issue.number} is not claimed")
    if existing.user_id != user.id and not can(session, user, "maintain", issue.repository):
        raise Forbidden(f"issue #{issue.number} is claimed by {existing.user.name}, not you")
    session.delete(existing)
    session.flush()
