"""The votes on a change as people read them: who gave what, how much it weighs and whether
it counts, with forge's CI speaking on Verified.

A vote counts unless it is stale (given on an older patch set), the author's own, a suspended
account's, or a Code-Review vote by someone who holds no trust in the repository (shown,
marked advisory). Each counts with its voter's trust (`forge.accounts.trust`).

Verified is forge's CI speaking (`ci_verdict`): +1 when every `ci/*` status (and every check
the branch's protection requires) of the current head passed, -1 when one failed, no vote
while they run. It shows as a vote by "forge-ci". A maintainer's own Verified vote on the
current patch set overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts import privileges
from forge.accounts.privileges import CI_VOTER, CODE_REVIEW, VERIFIED
from forge.config import ReputationRules
from forge.gate.labels import labels_of
from forge.models import BranchProtection, Change, User
from forge.models.quality import Label, Vote
from forge.repos.statuses import latest_per_context, statuses_for


@dataclass
class VoteView:
    """A vote as people read it: who, what, how much it weighs and whether it counts."""

    user: str
    label: str
    value: int
    weight: float
    stale: bool
    counted: bool
    via: str
    message: str
    patch_set: int
    at: datetime | None
    note: str = ""  # why it does not count, or what CI said
    user_id: int | None = None
    reason: str = ""  # why it weighs what it does
    advisory: bool = False  # a Code-Review vote by someone without trust here: it weighs 0
    approver: bool = False  # an approval the default gate takes (forge.accounts.trust)


@dataclass
class CiVerdict:
    """What the ci/* statuses (and required checks) of the current head say."""

    value: int | None  # +1, -1, or None while pending / when there are none
    summary: str
    contexts: list[str]
    target_url: str = ""


def ci_verdict(session: Session, change: Change, required: list[str] | None = None) -> CiVerdict:
    required = required if required is not None else required_contexts(session, change)
    latest = [
        s
        for s in latest_per_context(statuses_for(session, change.repository, change.head_sha))
        if s.context == "ci" or s.context.startswith("ci/") or s.context in required
    ]
    present = {s.context for s in latest}
    failed = [s for s in latest if s.state in ("failure", "error")]
    if failed:
        named = ", ".join(f"{s.context} {s.state}" for s in failed)
        return CiVerdict(-1, f"CI failed: {named}", [s.context for s in failed],
                         failed[0].target_url)  # fmt: skip
    waiting = [s.context for s in latest if s.state == "pending"]
    waiting += [c for c in required if c not in present]
    if waiting:
        return CiVerdict(None, f"waiting for {', '.join(sorted(waiting))}", sorted(waiting))
    if not latest:
        return CiVerdict(None, "no CI status on the current patch set yet", [])
    return CiVerdict(1, f"CI passed: {', '.join(s.context for s in latest)}",
                     [s.context for s in latest], latest[0].target_url)  # fmt: skip


def protection_of(session: Session, change: Change) -> BranchProtection | None:
    """The protection rule of the change's target branch, if it has one."""
    return session.scalar(
        select(BranchProtection).where(
            BranchProtection.repository_id == change.repository_id,
            BranchProtection.branch == change.base_branch,
        )
    )


def required_contexts(session: Session, change: Change) -> list[str]:
    rule = protection_of(session, change)
    return rule.required_contexts if rule is not None else []


def votes_of(
    session: Session, change: Change, *, rules: ReputationRules | None = None
) -> list[VoteView]:
    """Every vote on the change, by label order then value (highest first), with forge's CI
    as a voter on Verified when no one overrides it."""
    rules = rules or privileges.rules_of(session)
    repo = change.repository
    labels = {label.name: label for label in labels_of(session, repo)}
    order = {name: i for i, name in enumerate(labels)}
    rows = list(session.scalars(select(Vote).where(Vote.change_id == change.id).order_by(Vote.id)))
    standing = privileges.standings(session, repo, [row.user for row in rows])
    current = change.current_patch_set.number
    views = []
    for row in rows:
        stale = row.patch_set_number < current
        own = row.user_id == change.author_id
        bot = row.user.lower_name == CI_VOTER
        who = standing[row.user_id]
        weight = 1.0 if bot else who.weight
        # forge's CI votes through an account that never signs in; a person's is suspended.
        suspended = row.user.is_suspended and not bot
        advisory = row.label == CODE_REVIEW and not bot and not suspended and weight <= 0
        note = ""
        if stale:
            note = f"given on patch set {row.patch_set_number}"
        elif own:
            note = "the author's own vote does not count"
        elif suspended:
            note = "a suspended account's vote does not count"
        elif advisory:
            note = f"advisory: {row.user.name} holds no trust in {repo.full_name} yet"
        views.append(
            VoteView(
                user=row.user.name,
                label=row.label,
                value=row.value,
                weight=weight,
                stale=stale,
                counted=not stale
                and not own
                and not suspended
                and not advisory
                and row.label in labels,
                via=row.via,
                message=row.message,
                patch_set=row.patch_set_number,
                at=row.updated_at,
                note=note,
                user_id=row.user_id,
                reason="forge's CI" if bot else who.reason,
                advisory=advisory,
                approver=not bot and who.approver,
            )  # fmt: skip
        )
    overridden = any(v.label == VERIFIED and v.counted for v in views)
    if VERIFIED in labels and not overridden:
        verdict = ci_verdict(session, change)
        if verdict.value is not None:
            views.append(
                VoteView(
                    user=CI_VOTER,
                    label=VERIFIED,
                    value=verdict.value,
                    weight=1.0,
                    stale=False,
                    counted=True,
                    via="ci",
                    message=verdict.summary,
                    patch_set=current,
                    at=None,
                    note=verdict.summary,
                    reason="forge's CI",
                )  # fmt: skip
            )
    views.sort(key=lambda v: (order.get(v.label, len(order)), -v.value, v.user.lower()))
    return views


def voting_choices(
    session: Session, viewer: User | None, change: Change
) -> list[tuple[Label, list[int], int]]:
    """For the vote form: each label the viewer may vote on, the values they may give, and
    their current value (0 when none)."""
    if viewer is None or change.state != "open":
        return []
    repo = change.repository
    rules = privileges.rules_of(session)
    who = privileges.standing(session, viewer, repo)
    mine = dict(
        session.execute(
            select(Vote.label, Vote.value).where(
                Vote.change_id == change.id, Vote.user_id == viewer.id
            )
        ).all()
    )
    choices = []
    for label in labels_of(session, repo):
        values = privileges.allowed_values(rules, who, repo, label)
        if [v for v in values if v != 0]:
            choices.append((label, values, mine.get(label.name, 0)))
    return choices
