"""Reputation: the peer rating forge keeps from history, one logged event at a time.

A user earns or loses reputation when the outcome of a change is known: its author when it
merges (and again, negatively, when it is reverted within the window), its reviewers when the
outcome agrees or disagrees with their Code-Review vote on the final patch set, and anyone
who answers an audit (a change a maintainer marked as known-bad or known-good). The numbers
are `forge.config.ReputationRules`; every event says why in words a user reads.

`users.reputation` caches the sum of a user's events and moves in the same transaction as
the event. The unique (user, kind, change) index makes settling idempotent: a change settled
twice (a retried job, a closed change reopened and merged) never pays twice, and a reviewer's
vote on a change is settled once, by the first outcome known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from forge import events
from forge.accounts import trust_edges
from forge.accounts.permissions import can, require
from forge.accounts.privileges import CODE_REVIEW, repository_reputation, rules_of
from forge.db import added_once, utcnow
from forge.errors import Invalid, NotFound
from forge.models import Change, PatchSet, Repository, User
from forge.models.quality import Audit, ReputationEvent, Vote

# Settled votes: which kinds count as an agreement and which as a disagreement for accuracy.
AGREED = ("vote_agreed", "audit_passed")
DISAGREED = ("vote_disagreed", "audit_failed", "reverted_approver")
# An agreement taken back when the change it approved was reverted.
TAKEN_BACK = "vote_agreed_revoked"
VOTE_KINDS = ("vote_agreed", "vote_disagreed")
AUDIT_KINDS = ("audit_passed", "audit_failed")
AUDIT_EXPECTATIONS = ("bad", "good")
# Crowdsourced triage (forge.issues.triage): a confirmation the issue's outcome agreed with
# (fixed by a merged change) or disagreed with (closed as not planned).
TRIAGE_KINDS = ("triage_fixed", "triage_not_planned")
REVERT_LINE = re.compile(r"This reverts commit ([0-9a-f]{7,40})", re.IGNORECASE)


def _signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else str(delta)


def _change_name(change: Change) -> str:
    return f"{change.repository.full_name}#{change.number}"


# --- recording ----------------------------------------------------------------------------------


def record(
    session: Session,
    user: User,
    kind: str,
    delta: int,
    reason: str,
    repository: Repository | None = None,
    change: Change | None = None,
    issue_id: int | None = None,
) -> ReputationEvent | None:
    """Log one event and move the user's cached reputation with it, in this transaction.

    Idempotent per (user, kind, change) and per (user, kind, issue) for triage's events about
    an issue: the second call returns None and changes nothing.
    `reason` is what the user reads; the signed delta is put in front of it.
    """
    if change is not None and repository is None:
        repository = change.repository
    change_id = change.id if change is not None else None
    if change_id is not None:
        done = session.scalar(
            select(ReputationEvent.id).where(
                ReputationEvent.user_id == user.id,
                ReputationEvent.kind == kind,
                ReputationEvent.change_id == change_id,
            )
        )
        if done is not None:
            return None
    event = ReputationEvent(
        user_id=user.id,
        repository_id=repository.id if repository is not None else None,
        change_id=change_id,
        issue_id=issue_id,
        kind=kind,
        delta=delta,
        reason=f"{_signed(delta)}: {reason}",
    )
    # A savepoint: a concurrent settlement that got there first must not undo our caller's work.
    if not added_once(session, event):
        return None
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(reputation=User.reputation + delta)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["reputation"])
    return event


# --- settling changes ---------------------------------------------------------------------------


def _current_number(session: Session, change: Change) -> int:
    return (
        session.scalar(select(func.max(PatchSet.number)).where(PatchSet.change_id == change.id))
        or 0
    )


def _final_votes(session: Session, change: Change, patch_set: int | None = None) -> list[Vote]:
    """Code-Review votes with a value on the final (or given) patch set, authors' excluded."""
    number = patch_set if patch_set is not None else _current_number(session, change)
    return list(
        session.scalars(
            select(Vote)
            .where(
                Vote.change_id == change.id,
                Vote.label == CODE_REVIEW,
                Vote.patch_set_number == number,
                Vote.value != 0,
                Vote.user_id != change.author_id,
            )
            .order_by(Vote.id)
        )
    )


def _settled_voters(session: Session, change: Change) -> set[int]:
    return set(
        session.scalars(
            select(ReputationEvent.user_id).where(
                ReputationEvent.change_id == change.id,
                ReputationEvent.kind.in_(VOTE_KINDS + AUDIT_KINDS),
            )
        )
    )


def is_audit(session: Session, change: Change) -> bool:
    return session.scalar(select(Audit.id).where(Audit.change_id == change.id)) is not None


def _settle_votes(session: Session, change: Change, votes: list[Vote], good: bool, why: str):
    """Pay each vote once: agreeing when its sign matches the outcome (good: positive)."""
    rules = rules_of(session)
    settled = _settled_voters(session, change)
    name = _change_name(change)
    for vote in votes:
        if vote.user_id in settled:
            continue
        agreed = (vote.value > 0) == good
        kind = "vote_agreed" if agreed else "vote_disagreed"
        delta = rules.vote_agreed if agreed else rules.vote_disagreed
        verb = "agreed with" if agreed else "disagreed with"
        record(
            session,
            vote.user,
            kind,
            delta,
            f"{CODE_REVIEW} {_signed(vote.value)} on {name} {verb} the outcome: {why}",
            change=change,
        )


# --- subscribers (wired by forge.subscribers) ---------------------------------------------------


def on_change_merged(session: Session, event: events.ChangeMerged) -> None:
    settle_merged(session, event.change, event.sender)


def on_change_closed(session: Session, event: events.ChangeClosed) -> None:
    settle_abandoned(session, event.change, event.sender)


def on_vote_cast(session: Session, event: events.VoteCast) -> None:
    if event.action != "deleted":
        vote_recorded(session, event.vote)  # an audit settles each answer at once


def on_ci_run_finished(session: Session, event: events.CiRunFinished) -> None:
    if event.run.state in ("failed", "timed_out") and event.run.change_id is not None:
        settle_ci_failed(session, event.run)  # the votes on a failed head are settled


def settle_merged(session: Session, change: Change, decider: User) -> None:
    """A change merged by `decider`'s action: its author earns `merged_author`; final-patch-set
    voters are settled (+ agreed, - disagreed); and where the decider holds trust, the author
    and the approvers who voted before the decider did earn trust from them
    (forge.accounts.trust_edges). Call once the change is marked merged; harmless twice."""
    if is_audit(session, change):
        return
    rules = rules_of(session)
    final = _final_votes(session, change)
    approvers = [vote.user for vote in _before(final, decider) if vote.value > 0]
    trust_edges.settle_merged(session, change, decider, approvers, rules)
    record(
        session,
        change.author,
        "merged_author",
        rules.merged_author,
        f"change {_change_name(change)} merged",
        change=change,
    )
    _settle_votes(session, change, final, True, "it merged")


def settle_abandoned(session: Session, change: Change, closer: User) -> None:
    """A change closed unmerged by `closer`: its -1/-2 voters agreed, its +1/+2 voters
    disagreed; where the closer holds trust, the agreeing voters who voted before the closer
    did earn trust from them."""
    if change.state != "closed" or is_audit(session, change):
        return
    final = _final_votes(session, change)
    opposed = [vote.user for vote in _before(final, closer) if vote.value < 0]
    trust_edges.settle_abandoned(session, change, closer, opposed, rules_of(session))
    _settle_votes(session, change, final, False, "it was abandoned")


def _before(final: list[Vote], decider: User) -> list[Vote]:
    """The votes given before the decider's own vote (all of them when the decider gave none,
    as with the Merge button). A vote that echoes a decision already made shows nothing of the
    voter's judgement, so it earns no trust; it is settled for reputation all the same.
    Otherwise an attacker's accounts farm trust by copying every maintainer's +2, and enough
    of that farmed trust passes the community quorum (bench/crowd measured it)."""
    theirs = next((vote for vote in final if vote.user_id == decider.id), None)
    if theirs is None:
        return final
    return [vote for vote in final if vote.updated_at <= theirs.updated_at]


def settle_ci_failed(session: Session, run) -> None:
    """A CI run of an open change's current head failed: settle the votes on that patch set
    as if the change were abandoned (its -1/-2 voters saw it coming)."""
    if run.change_id is None or run.state not in ("failed", "timed_out"):
        return
    change = session.get(Change, run.change_id)
    if change is None or change.state != "open" or change.head_sha != run.sha:
        return
    if is_audit(session, change):
        return
    _settle_votes(session, change, _final_votes(session, change), False, "its CI failed")


# --- reverts ----------------------------------------------------------------------------------


def reverted_shas(messages: list[str]) -> list[str]:
    """The commits that commit messages say they revert (`git revert`'s line)."""
    found = []
    for message in messages:
        found += [sha.lower() for sha in REVERT_LINE.findall(message)]
    return list(dict.fromkeys(found))


def _change_reverting(
    session: Session, repo: Repository, sha: str, commits_of, branch: str | None
) -> Change | None:
    """The merged change of `repo` (into `branch`) that `sha` is the merge commit, a patch set
    head or (with `commits_of(change) -> list[str]`) one of the commits of."""
    exact = len(sha) == 40

    def matches(column):
        return column == sha if exact else column.startswith(sha)

    merged = select(Change).where(Change.repository_id == repo.id, Change.state == "merged")
    if branch is not None:
        merged = merged.where(Change.base_branch == branch)
    found = session.scalars(
        merged.where(matches(Change.merge_commit_sha) | matches(Change.head_sha)).limit(1)
    ).first()
    if found is not None:
        return found
    found = session.scalars(
        merged.join(PatchSet, PatchSet.change_id == Change.id)
        .where(matches(PatchSet.head_sha))
        .limit(1)
    ).first()
    if found is not None or commits_of is None:
        return found
    # An inner commit of a change with several: walk the recent merges only (the window).
    since = utcnow() - timedelta(days=rules_of(session).revert_window_days)
    recent = session.scalars(
        merged.where(Change.merged_at >= since).order_by(Change.merged_at.desc()).limit(200)
    )
    for change in recent:
        if any(c == sha or c.startswith(sha) for c in commits_of(change)):
            return change
    return None


def settle_revert(
    session: Session, change: Change, reverted_by: str, at: datetime | None = None
) -> bool:
    """The merged `change` was reverted (by commit `reverted_by`): within the window its
    author and approvers lose reputation and the approvers' agreement is taken back.
    Returns whether anything was settled."""
    rules = rules_of(session)
    at = at or utcnow()
    if change.state != "merged" or change.merged_at is None:
        return False
    if at - change.merged_at > timedelta(days=rules.revert_window_days):
        return False
    name = _change_name(change)
    why = f"change {name} was reverted by {reverted_by[:12]}"
    record(session, change.author, "reverted_author", rules.reverted_author, why, change=change)
    trust_edges.settle_revert(session, change)
    for vote in _final_votes(session, change):
        if vote.value <= 0:
            continue
        record(session, vote.user, "reverted_approver", rules.reverted_approver,
               f"approved ({CODE_REVIEW} {_signed(vote.value)}) {why}", change=change)  # fmt: skip
        agreed = session.scalar(
            select(ReputationEvent).where(
                ReputationEvent.user_id == vote.user_id,
                ReputationEvent.kind == "vote_agreed",
                ReputationEvent.change_id == change.id,
            )
        )
        if agreed is not None:
            why_back = f"earlier agreement on {name} taken back: it was reverted"
            record(session, vote.user, TAKEN_BACK, -agreed.delta, why_back, change=change)
    return True


def settle_reverts_in_push(
    session: Session,
    repo: Repository,
    messages: list[str],
    commits_of=None,
    branch: str | None = None,
) -> list[Change]:
    """Settle every change merged into `branch` of `repo` that the pushed commits' messages
    revert (a revert pushed to some other branch is only a proposal yet)."""
    settled = []
    for sha in reverted_shas(messages):
        change = _change_reverting(session, repo, sha, commits_of, branch)
        if change is not None and change not in settled and settle_revert(session, change, sha):
            settled.append(change)
    return settled


# --- audits -------------------------------------------------------------------------------------


def mark_audit(session: Session, actor: User, change: Change, expected: str) -> Audit:
    """A maintainer marks an open change as a known-bad or known-good audit. Votes already
    on it are settled at once, like every vote given afterwards."""
    require(session, actor, "maintain", change.repository)
    if expected not in AUDIT_EXPECTATIONS:
        raise Invalid('expected must be "bad" or "good"', field="expected")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; only open changes are audits")
    audit = session.scalar(select(Audit).where(Audit.change_id == change.id))
    if audit is None:
        audit = Audit(change_id=change.id, expected=expected, created_by_id=actor.id)
        session.add(audit)
    else:
        audit.expected = expected
    session.flush()
    settle_audit(session, change)
    return audit


def unmark_audit(session: Session, actor: User, change: Change) -> None:
    require(session, actor, "maintain", change.repository)
    audit = session.scalar(select(Audit).where(Audit.change_id == change.id))
    if audit is None:
        raise NotFound(f"change #{change.number} is not an audit")
    session.delete(audit)
    session.flush()


def audit_of(session: Session, viewer: User | None, change: Change) -> Audit | None:
    """The change's audit, for maintainers only: reviewers must not know before they vote."""
    if not can(session, viewer, "maintain", change.repository):
        return None
    return session.scalar(select(Audit).where(Audit.change_id == change.id))


def settle_audit(session: Session, change: Change) -> None:
    """Settle every answer (Code-Review vote on the current patch set) to an audit change."""
    audit = session.scalar(select(Audit).where(Audit.change_id == change.id))
    if audit is None:
        return
    rules = rules_of(session)
    settled = _settled_voters(session, change)
    name = _change_name(change)
    for vote in _final_votes(session, change):
        if vote.user_id in settled:
            continue
        passed = (vote.value < 0) == (audit.expected == "bad")
        auditor = session.get(User, audit.created_by_id) if audit.created_by_id else None
        if auditor is not None:
            trust_edges.settle_audit_answer(session, change, auditor, vote.user, passed, rules)
        kind = "audit_passed" if passed else "audit_failed"
        delta = rules.audit_passed if passed else rules.audit_failed
        record(session, vote.user, kind, delta,
               f"audit {'passed' if passed else 'failed'}: {CODE_REVIEW} "
               f"{_signed(vote.value)} on {name}, a known-{audit.expected} change",
               change=change)  # fmt: skip


def vote_recorded(session: Session, vote: Vote) -> None:
    """Call after a vote is given or changed: an audit settles its answers at once."""
    if vote.label == CODE_REVIEW:
        settle_audit(session, vote.change or session.get(Change, vote.change_id))


# --- reading ------------------------------------------------------------------------------------


@dataclass
class ReputationSummary:
    """What a profile shows of a user's reputation (privileges.Standing is what votes use)."""

    reputation: int
    accuracy: float | None
    settled: int  # votes settled (agreed + disagreed)


def accuracy_of(session: Session, user_ids) -> dict[int, float | None]:
    """Each user's review accuracy: the share of their settled votes that agreed with the
    outcome (None before any is settled). One query for all of them."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    agreed = func.sum(
        case(
            (ReputationEvent.kind.in_(AGREED), 1),
            (ReputationEvent.kind == TAKEN_BACK, -1),
            else_=0,
        )
    )
    disagreed = func.sum(case((ReputationEvent.kind.in_(DISAGREED), 1), else_=0))
    rows = session.execute(
        select(ReputationEvent.user_id, agreed, disagreed)
        .where(
            ReputationEvent.user_id.in_(ids),
            ReputationEvent.kind.in_(AGREED + DISAGREED + (TAKEN_BACK,)),
        )
        .group_by(ReputationEvent.user_id)
    ).all()
    result: dict[int, float | None] = dict.fromkeys(ids)
    for user_id, good, bad in rows:
        good, bad = max(0, int(good or 0)), int(bad or 0)
        result[user_id] = round(good / (good + bad), 2) if good + bad else None
    return result


def summary_of(
    session: Session, user: User, repository: Repository | None = None
) -> ReputationSummary:
    """A user's reputation (global, or within one repository) and review accuracy."""
    if repository is None:
        session.refresh(user, ["reputation"])
        total = user.reputation
    else:
        total = repository_reputation(session, user, repository)
    settled = session.scalar(
        select(func.count(ReputationEvent.id)).where(
            ReputationEvent.user_id == user.id,
            ReputationEvent.kind.in_(AGREED + DISAGREED),
        )
    )
    return ReputationSummary(int(total or 0), accuracy_of(session, [user.id])[user.id], settled)


# What others read of an audit's settlement: an audit settles at once, so its own words
# would tell every reader of a voter's history which open changes are audits.
NEUTRAL_KIND, NEUTRAL_REASON = "review", "review settled"


@dataclass
class HistoryItem:
    event: ReputationEvent
    visible: bool  # False: in a repository the viewer cannot read; only the number shows
    repository: Repository | None = None
    change: Change | None = None
    kind: str = ""  # what the viewer may read of the event's kind and reason
    reason: str = ""


def history(
    session: Session,
    viewer: User | None,
    user: User,
    repository: Repository | None = None,
    limit: int = 30,
    offset: int = 0,
) -> tuple[list[HistoryItem], int]:
    """The user's events, newest first, and how many there are. Events in repositories the
    viewer cannot read keep their number but lose their reason."""
    where = [ReputationEvent.user_id == user.id]
    if repository is not None:
        where.append(ReputationEvent.repository_id == repository.id)
    total = session.scalar(select(func.count(ReputationEvent.id)).where(*where))
    events = list(
        session.scalars(
            select(ReputationEvent)
            .where(*where)
            .order_by(ReputationEvent.created_at.desc(), ReputationEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    repo_ids = {e.repository_id for e in events if e.repository_id is not None}
    change_ids = {e.change_id for e in events if e.change_id is not None}
    repos = {}
    if repo_ids:
        repos = {
            r.id: r for r in session.scalars(select(Repository).where(Repository.id.in_(repo_ids)))
        }
    changes = {}
    if change_ids:
        changes = {
            c.id: c for c in session.scalars(select(Change).where(Change.id.in_(change_ids)))
        }
    readable = {rid for rid, r in repos.items() if can(session, viewer, "read", r)}
    # Audits are told in full to the voter, and to the maintainers (site admins among them)
    # who mark them; everyone else reads a settled review, not naming the change.
    oneself = viewer is not None and viewer.id == user.id and viewer.is_active
    knows_audits = {
        rid for rid, r in repos.items() if oneself or can(session, viewer, "maintain", r)
    }
    items = []
    for e in events:
        item = HistoryItem(
            e,
            e.repository_id is None or e.repository_id in readable,
            repos.get(e.repository_id),
            changes.get(e.change_id),
            e.kind,
            e.reason,
        )
        if e.kind in AUDIT_KINDS and e.repository_id not in knows_audits:
            item.kind, item.reason = NEUTRAL_KIND, f"{_signed(e.delta)}: {NEUTRAL_REASON}"
            item.change = None
        items.append(item)
    return items, total


def running_total(session: Session, user: User, points: int = 200) -> list[tuple[datetime, int]]:
    """The user's reputation after each of their latest `points` events, oldest first (for
    the profile's chart); the first point starts from what came before them."""
    rows = session.execute(
        select(ReputationEvent.created_at, ReputationEvent.delta)
        .where(ReputationEvent.user_id == user.id)
        .order_by(ReputationEvent.created_at.desc(), ReputationEvent.id.desc())
        .limit(points)
    ).all()
    rows.reverse()
    session.refresh(user, ["reputation"])
    value = user.reputation - sum(delta for _at, delta in rows)
    series = []
    for at, delta in rows:
        value += delta
        series.append((at, value))
    return series


def chart_svg_points(series, width: int = 300, height: int = 80) -> dict:
    """Coordinates of the running total for an inline SVG polyline (no JavaScript)."""
    if not series:
        return {"points": "", "min": 0, "max": 0, "width": width, "height": height}
    values = [0] + [v for _at, v in series]
    low, high = min(values), max(values)
    span = (high - low) or 1
    pad = 4
    step = (width - 2 * pad) / max(1, len(values) - 1)
    coords = [
        f"{pad + i * step:.1f},{pad + (height - 2 * pad) * (high - v) / span:.1f}"
        for i, v in enumerate(values)
    ]
    zero_y = pad + (height - 2 * pad) * (high - 0) / span
    return {
        "points": " ".join(coords),
        "min": low,
        "max": high,
        "width": width,
        "height": height,
        "zero_y": f"{zero_y:.1f}",
        "last": values[-1],
    }
