"""The decisions trust flows along (`forge.accounts.trust`), each recorded as a `TrustEdge`
from the person who decided to the person it rewards or blames: a merge, the reviews that
agreed with a merge or an abandon, an audit's answer, a revert, and vouches.

An edge is recorded only from someone who holds trust in the repository (a decision of
someone who holds none carries nothing), at most once per decision, and the repository's
cached flow is forgotten after each.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.accounts.trust import forget, holds_trust, trust_of
from forge.config import ReputationRules
from forge.db import added_once
from forge.errors import Forbidden, Invalid, NotFound
from forge.models import Change, Repository, User
from forge.models.quality import TrustEdge


def give(
    session: Session,
    repo: Repository,
    truster: User,
    trustee: User,
    kind: str,
    amount: float,
    rules: ReputationRules,
    change: Change | None = None,
    *,
    checked: bool = False,
) -> TrustEdge | None:
    """Record that `truster` gave (or, negative, took back) trust to `trustee` in the
    repository by one decision. Nothing is recorded when the truster holds no trust there
    (`checked`: the caller just made sure they do), gives to themself, or this decision was
    recorded already."""
    if truster.id == trustee.id or amount == 0:
        return None
    if amount > 0 and not checked and not holds_trust(session, truster, repo, rules):
        return None
    edge = TrustEdge(
        repository_id=repo.id,
        truster_id=truster.id,
        trustee_id=trustee.id,
        change_id=change.id if change is not None else None,
        kind=kind,
        amount=round(amount, 4),
    )
    if not added_once(session, edge):
        return None
    forget(session, repo)
    return edge


def settle_merged(
    session: Session, change: Change, decider: User, agreeing: list[User], rules: ReputationRules
) -> None:
    """A change merged by `decider`'s action: its author, and the reviewers whose final vote
    approved it (sharing one `trust_agreed`), gain trust from the decider."""
    repo = change.repository
    if not holds_trust(session, decider, repo, rules):
        return
    give(session, repo, decider, change.author, "merged", rules.trust_merged, rules, change,
         checked=True)  # fmt: skip
    _share(session, repo, decider, agreeing, rules, change)


def settle_abandoned(
    session: Session, change: Change, closer: User, agreeing: list[User], rules: ReputationRules
) -> None:
    """A change abandoned by `closer`: the reviewers whose final vote opposed it share one
    `trust_agreed` from the closer (the author closing their own change decides nothing)."""
    if closer.id == change.author_id or not holds_trust(session, closer, change.repository, rules):
        return
    _share(session, change.repository, closer, agreeing, rules, change)


def _share(session, repo, decider: User, agreeing: list[User], rules, change) -> None:
    """One `trust_agreed` from a trusted decider, split among everyone who agreed."""
    others = [user for user in agreeing if user.id not in (decider.id, change.author_id)]
    for user in others:
        give(session, repo, decider, user, "agreed", rules.trust_agreed / len(others), rules,
             change, checked=True)  # fmt: skip


def settle_audit_answer(
    session: Session, change: Change, auditor: User, voter: User, passed: bool, rules
) -> None:
    """An audit's answer: right ones share `trust_audit` in halves (the first half, the next a
    quarter, ...), so any number of accounts answering gain at most `trust_audit` together; a
    wrong one takes `trust_audit` back (and is a strike, `_strikes`)."""
    repo = change.repository
    if not passed:
        give(session, repo, auditor, voter, "audit_failed", -rules.trust_audit, rules, change)
        return
    paid = session.scalar(
        select(func.count(TrustEdge.id)).where(
            TrustEdge.change_id == change.id, TrustEdge.kind == "audit"
        )
    )
    give(session, repo, auditor, voter, "audit", rules.trust_audit / 2 ** (paid + 1), rules,
         change)  # fmt: skip


def settle_revert(session: Session, change: Change) -> None:
    """A merged change was reverted: what its merge gave (to its author and its approvers) is
    taken back."""
    given = session.scalars(
        select(TrustEdge).where(
            TrustEdge.change_id == change.id, TrustEdge.kind.in_(("merged", "agreed"))
        )
    ).all()
    for edge in given:
        back = TrustEdge(
            repository_id=edge.repository_id, truster_id=edge.truster_id,
            trustee_id=edge.trustee_id, change_id=change.id, kind="reverted",
            amount=-edge.amount,
        )  # fmt: skip
        added_once(session, back)
    forget(session, change.repository)


def merged_here_by_trusted(session: Session, repo: Repository, author: User) -> bool:
    """Whether someone trusted in the repository ever merged a change of `author` there."""
    found = session.scalar(
        select(TrustEdge.id)
        .where(
            TrustEdge.repository_id == repo.id,
            TrustEdge.trustee_id == author.id,
            TrustEdge.kind == "merged",
        )
        .limit(1)
    )
    return found is not None


# --- vouching ---------------------------------------------------------------------------------


def vouch(
    session: Session,
    actor: User,
    repo: Repository,
    trustee: User,
    amount,
    rules: ReputationRules,
) -> TrustEdge:
    """`actor` lends `trustee` part of their own trust in the repository (replacing an earlier
    vouch of theirs for the same person)."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise Invalid("amount must be a number", field="amount")
    if not 0 < amount <= rules.max_vouch:
        raise Invalid(f"amount must be above 0 and at most {rules.max_vouch:g}", field="amount")
    mine = trust_of(session, actor, repo, rules)
    if not mine.can_read:
        raise NotFound(f"repository {repo.full_name} not found")
    if actor.id == trustee.id:
        raise Invalid("you cannot vouch for yourself", field="user")
    if mine.weight <= 0:
        raise Forbidden(f"you hold no trust in {repo.full_name} to lend")
    if not mine.granted and amount > mine.earned:
        raise Forbidden(
            f"you can lend at most the trust you earned in {repo.full_name} ({mine.earned:g})"
        )
    unvouch(session, actor, repo, trustee)
    edge = TrustEdge(
        repository_id=repo.id, truster_id=actor.id, trustee_id=trustee.id, kind="vouch",
        amount=float(amount),
    )  # fmt: skip
    session.add(edge)
    session.flush()
    forget(session, repo)
    return edge


def unvouch(session: Session, actor: User, repo: Repository, trustee: User) -> bool:
    """Take back `actor`'s vouch for `trustee`; whether there was one."""
    found = session.scalars(
        select(TrustEdge).where(
            TrustEdge.repository_id == repo.id,
            TrustEdge.truster_id == actor.id,
            TrustEdge.trustee_id == trustee.id,
            TrustEdge.kind == "vouch",
        )
    ).all()
    for edge in found:
        session.delete(edge)
    session.flush()
    forget(session, repo)
    return bool(found)


def vouches_by(session: Session, repo: Repository, user: User) -> dict[str, float]:
    """Whom (by name) the user vouches for in the repository, and how much."""
    return dict(
        session.execute(
            select(User.name, TrustEdge.amount)
            .join(User, User.id == TrustEdge.trustee_id)
            .where(
                TrustEdge.repository_id == repo.id,
                TrustEdge.truster_id == user.id,
                TrustEdge.kind == "vouch",
            )
            .order_by(User.name)
        ).all()
    )
