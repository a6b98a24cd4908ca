"""Crowdsourced triage: peers confirm reports, weighted by their trust in the repository.

Bugzilla's UNCONFIRMED and Launchpad's "affects me too", with the quality gate's notion of
trust: a report opened by someone whose vote weighs nothing in the repository (no role there
and no earned trust, `forge.accounts.privileges.standing`) starts **unconfirmed**; others'
starts with no triage state (it needs none). Peers press "I can reproduce this" or "cannot
reproduce" with a note of their environment (`IssueConfirmation`, one per person: pressing
again changes it). The weights of those who can reproduce it (each their `Trust.weight`, as
their Code-Review +1 would weigh) are summed; at the repository's threshold
(`Gate.triage_threshold`, on the quality gate's settings) the report becomes **confirmed**.
The author's own confirmation is refused, and accounts without trust weigh 0 however many
there are, so a ring of fresh accounts cannot confirm anything. "Cannot reproduce" shows but
subtracts nothing: a bug seen on one machine is not disproved by another.

A triager (the triage role or more) may confirm at once, or close. Marking a report a
duplicate of another moves its confirmations and followers to the original, closes it
(state_reason duplicate) and links both.

Reputation: when a confirmed report is closed as completed by a merged change (Fixes #N),
everyone who confirmed it earns `triage_fixed`; when triagers close it as not planned, they
lose `triage_not_planned` (once per person and issue, `forge.accounts.reputation.record`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts import privileges, reputation
from forge.accounts.permissions import can, require
from forge.db import utcnow
from forge.errors import Forbidden, Invalid
from forge.gate.quality_gate import gate_of
from forge.issues import inbox, tracker
from forge.models import Issue, IssueEvent, IssueReference, IssueSubscription, User
from forge.models.triage import IssueConfirmation

UNCONFIRMED, CONFIRMED = "unconfirmed", "confirmed"
MAX_ENVIRONMENT = 2000


@dataclass
class Confirmation:
    user: User
    reproducible: bool
    environment: str
    weight: float  # what it adds toward the threshold (0 for "cannot reproduce")


@dataclass
class TriageSummary:
    """What the triage panel shows of one issue."""

    state: str | None
    weight: float  # weighted "I can reproduce this"
    threshold: float
    confirmations: list[Confirmation]
    mine: IssueConfirmation | None

    @property
    def reproduced_by(self) -> int:
        return sum(1 for c in self.confirmations if c.reproducible)

    @property
    def not_reproduced_by(self) -> int:
        return sum(1 for c in self.confirmations if not c.reproducible)


def _rows(session: Session, issue: Issue) -> list[IssueConfirmation]:
    return list(
        session.scalars(
            select(IssueConfirmation)
            .where(IssueConfirmation.issue_id == issue.id)
            .order_by(IssueConfirmation.created_at, IssueConfirmation.id)
        )
    )


def summary_of(session: Session, issue: Issue, viewer: User | None = None) -> TriageSummary:
    rows = _rows(session, issue)
    weights = privileges.standings(session, issue.repository, [row.user for row in rows])
    confirmations = [
        Confirmation(
            row.user,
            row.reproducible,
            row.environment,
            weights[row.user_id].weight if row.reproducible else 0.0,
        )
        for row in rows
        if row.user_id != issue.author_id
    ]
    mine = next((row for row in rows if viewer is not None and row.user_id == viewer.id), None)
    return TriageSummary(
        state=issue.triage_state,
        weight=round(sum(c.weight for c in confirmations), 2),
        threshold=gate_of(session, issue.repository).triage_threshold,
        confirmations=confirmations,
        mine=mine,
    )


def may_decide(session: Session, user: User | None, issue: Issue) -> bool:
    """Whether the user may confirm the report at once (the triage role or more)."""
    return can(session, user, "triage", issue.repository)


# --- a new report ------------------------------------------------------------------------------


def on_issue_changed(session: Session, event) -> None:
    """Subscriber of IssueChanged: a new report by someone without trust here starts
    unconfirmed; a duplicate's confirmations move to the original; a close settles the
    confirmers' reputation."""
    issue = event.issue
    if event.action == "opened":
        standing = privileges.standing(session, issue.author, issue.repository)
        issue.triage_state = UNCONFIRMED if standing.weight <= 0 else None
        session.flush()
    elif event.action == "closed":
        # By id: the relationship may have been read before the close set the column.
        original = session.get(Issue, issue.duplicate_of_id) if issue.duplicate_of_id else None
        if issue.state_reason == "duplicate" and original is not None:
            move_to_original(session, issue, original, event.sender)
        settle_closed(session, issue)


# --- confirming --------------------------------------------------------------------------------


def confirm(
    session: Session, issue: Issue, actor: User, reproducible: bool, environment=""
) -> TriageSummary:
    """Record the actor's "I can reproduce this" (or "cannot reproduce") with their note, then
    confirm the report if the weighted confirmations reach the threshold."""
    require(session, actor, "read", issue.repository)
    if issue.state != "open":
        raise Invalid(f"issue #{issue.number} is closed; only open reports are triaged")
    if actor.id == issue.author_id:
        raise Invalid("you cannot confirm your own report; others who see it too can")
    if not isinstance(reproducible, bool):
        raise Invalid("reproducible must be true or false", field="reproducible")
    if environment is None:
        environment = ""
    if not isinstance(environment, str):
        raise Invalid("environment must be a string", field="environment")
    environment = environment.strip()
    if len(environment) > MAX_ENVIRONMENT:
        raise Invalid(
            f"the environment note is too long (at most {MAX_ENVIRONMENT} characters)",
            field="environment",
        )
    row = session.scalar(
        select(IssueConfirmation).where(
            IssueConfirmation.issue_id == issue.id, IssueConfirmation.user_id == actor.id
        )
    )
    if row is None:
        row = IssueConfirmation(issue_id=issue.id, user_id=actor.id, user=actor)
        session.add(row)
    row.reproducible, row.environment, row.updated_at = reproducible, environment, utcnow()
    session.flush()
    inbox.subscribe(session, issue, actor.id)
    return _evaluate(session, issue, actor)


def withdraw(session: Session, issue: Issue, actor: User) -> TriageSummary:
    """Take one's confirmation back (a confirmed report stays confirmed: it was seen)."""
    require(session, actor, "read", issue.repository)
    row = session.scalar(
        select(IssueConfirmation).where(
            IssueConfirmation.issue_id == issue.id, IssueConfirmation.user_id == actor.id
        )
    )
    if row is not None:
        session.delete(row)
        session.flush()
    return summary_of(session, issue, actor)


def _evaluate(session: Session, issue: Issue, actor: User | None) -> TriageSummary:
    summary = summary_of(session, issue, actor)
    if issue.triage_state == UNCONFIRMED and summary.weight >= summary.threshold:
        _mark_confirmed(session, issue, actor)
        summary.state = CONFIRMED
    return summary


def _mark_confirmed(session: Session, issue: Issue, actor: User | None) -> None:
    issue.triage_state = CONFIRMED
    issue.updated_at = utcnow()
    session.add(
        IssueEvent(issue_id=issue.id, actor_id=actor.id if actor else None, event="confirmed")
    )
    session.flush()


def confirm_now(session: Session, issue: Issue, actor: User) -> TriageSummary:
    """A triager's decision: the report is confirmed, whatever the count."""
    require(session, actor, "read", issue.repository)
    if not may_decide(session, actor, issue):
        raise Forbidden("only a triager or maintainer of the repository may confirm at once")
    if issue.state != "open":
        raise Invalid(f"issue #{issue.number} is closed; only open reports are triaged")
    if issue.triage_state != CONFIRMED:
        _mark_confirmed(session, issue, actor)
    return summary_of(session, issue, actor)


# --- duplicates --------------------------------------------------------------------------------


def mark_duplicate(
    session: Session, issue: Issue, original: Issue, actor: User, base_url=None
) -> Issue:
    """Close `issue` as a duplicate of `original` (a triager's act); `on_issue_changed` then
    moves its confirmations and followers, whichever way it was closed as a duplicate."""
    require(session, actor, "read", issue.repository)
    if not may_decide(session, actor, issue):
        raise Forbidden("only a triager or maintainer of the repository may mark duplicates")
    if original.repository_id != issue.repository_id:
        raise Invalid("a duplicate must be of an issue in the same repository", field="original")
    if original.id == issue.id:
        raise Invalid("an issue cannot be a duplicate of itself", field="original")
    if original.duplicate_of_id == issue.id:
        raise Invalid(
            f"#{original.number} is itself marked a duplicate of #{issue.number}",
            field="original",
        )
    if issue.state != "open":
        raise Invalid(f"issue #{issue.number} is closed already")
    tracker.close_issue(
        session, issue, actor, "duplicate", duplicate_of=original, base_url=base_url
    )
    return issue


def move_to_original(session: Session, issue: Issue, original: Issue, actor: User) -> None:
    """What a duplicate gathered goes to its original: confirmations (one person's counts once,
    the original's author's none) and followers; both issues link each other."""
    on_original = {row.user_id for row in _rows(session, original)}
    for row in _rows(session, issue):
        if row.user_id in on_original or row.user_id == original.author_id:
            session.delete(row)
        else:
            row.issue_id = original.id
    # Those who followed the duplicate follow the original (its author too: it is their bug).
    following = session.scalars(
        select(IssueSubscription.user_id).where(
            IssueSubscription.issue_id == issue.id, IssueSubscription.subscribed.is_(True)
        )
    ).all()
    session.flush()
    for user_id in following:
        inbox.subscribe(session, original, user_id)
    _link(session, issue, original, actor)
    _evaluate(session, original, actor)


def _link(session: Session, duplicate: Issue, original: Issue, actor: User) -> None:
    """The original's timeline shows the duplicate (the duplicate's shows the original through
    its marked_as_duplicate event)."""
    known = session.scalar(
        select(IssueReference.id).where(
            IssueReference.source_issue_id == duplicate.id,
            IssueReference.target_issue_id == original.id,
        )
    )
    if known is None:
        session.add(
            IssueReference(
                source_issue_id=duplicate.id, target_issue_id=original.id, actor_id=actor.id
            )
        )
        session.add(
            IssueEvent(
                issue_id=original.id,
                actor_id=actor.id,
                event="cross-referenced",
                source_issue_id=duplicate.id,
            )
        )
    session.flush()


# --- reputation --------------------------------------------------------------------------------


def settle_closed(session: Session, issue: Issue) -> None:
    """Pay those who confirmed a report a merged change fixed; charge those who confirmed one
    triagers closed as not planned. Idempotent (once per person, kind and issue)."""
    if issue.state_reason == "completed":
        fixed_by = session.scalar(
            select(IssueEvent)
            .where(
                IssueEvent.issue_id == issue.id,
                IssueEvent.event == "closed",
                IssueEvent.source_change_id.is_not(None),
            )
            .order_by(IssueEvent.id.desc())
        )
        if fixed_by is None:
            return  # closed by hand: nobody can tell whether it was a real bug
        kind, why = "triage_fixed", "a merged change fixed it"
    elif issue.state_reason == "not_planned":
        kind, why = "triage_not_planned", "maintainers closed it as not planned"
    else:
        return
    rules = privileges.rules_of(session)
    delta = getattr(rules, kind)
    name = f"{issue.repository.full_name}#{issue.number}"
    for row in _rows(session, issue):
        if not row.reproducible or row.user_id == issue.author_id:
            continue
        reputation.record(
            session,
            row.user,
            kind,
            delta,
            f"you confirmed issue {name} and {why}",
            repository=issue.repository,
            issue_id=issue.id,
        )
