"""Who may give which vote, how much a vote weighs, and who may approve a newcomer's CI run.

Privileges come from a person's trust in the repository (`forge.accounts.trust`): the role
they hold there (owner, admins and maintainers have every privilege) and the trust that flowed
to them from decisions of people trusted there. Reputation, the history on profiles, grants
nothing. The numbers are `forge.config.ReputationRules` (`FORGE_REPUTATION_RULES`):

- Code-Review -1/+1 (and the in-between values of any label): anyone signed in, not suspended,
  who can read the repository; without trust there the vote is advisory (it weighs 0).
- A label's deciding values (Code-Review -2/+2, a custom label's minimum and maximum): the
  maintain role, or earned trust of `approver_trust` in the repository.
- Verified: the maintain role (an override of what forge's CI says) and forge's CI itself.
- Weight of a vote: the person's trust (`Trust.weight`).
- Approving a newcomer's CI run: the write role, or earned trust of `approve_ci_trust`.
"""

from __future__ import annotations

import os
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge.accounts import trust
from forge.accounts.permissions import ROLE_RANK
from forge.accounts.trust import Trust
from forge.config import ReputationRules
from forge.errors import Forbidden, NotFound
from forge.models import Repository, User
from forge.models.quality import ReputationEvent

# The name forge's CI votes under (Verified from the ci/* statuses); reserved for users.
CI_VOTER = "forge-ci"
# The labels whose rules are built into the quality gate.
CODE_REVIEW, VERIFIED = "Code-Review", "Verified"

SESSION_KEY = "forge.reputation_rules"


def rules_of(session: Session) -> ReputationRules:
    """The reputation rules in force: those the app put on the session, else the environment's
    (workers and hooks inherit FORGE_REPUTATION_RULES from the process that started them)."""
    rules = session.info.get(SESSION_KEY)
    return rules if rules is not None else _rules_from_environment()


@cache
def _rules_from_environment() -> ReputationRules:
    return ReputationRules.from_env(dict(os.environ))


def repository_reputation(session: Session, user: User, repo: Repository) -> int:
    """The user's reputation earned in this repository."""
    total = session.scalar(
        select(func.coalesce(func.sum(ReputationEvent.delta), 0)).where(
            ReputationEvent.user_id == user.id, ReputationEvent.repository_id == repo.id
        )
    )
    return int(total or 0)


def standing(session: Session, user: User | None, repo: Repository) -> Trust:
    """The user's trust in the repository: what their votes may be and weigh."""
    return trust.trust_of(session, user, repo, rules_of(session))


def standings(session: Session, repo: Repository, users: list[User]) -> dict[int, Trust]:
    """Standings of several people at once (a few queries, whatever their number)."""
    return trust.trusts_of(session, repo, users, rules_of(session))


def missing_privilege(
    rules: ReputationRules, who: Trust, repo: Repository, label, value: int
) -> str | None:
    """Why the person may not give `value` on `label`, in a sentence; None when they may."""
    if value == 0:
        return None  # taking one's own vote back needs nothing
    shown = f"{label.name} {value:+d}"
    if who.suspended:
        return "a suspended account cannot vote"
    if not who.can_read:
        return f"giving {shown} needs read access to {repo.full_name}"
    if label.name == VERIFIED:
        if who.maintainer:
            return None
        return (
            f"giving {shown} needs the maintain role in {repo.full_name}; "
            "Verified is otherwise set by forge's CI"
        )
    if not _needs_privilege(label, value) or who.maintainer:
        return None
    if who.earned >= rules.approver_trust:
        return None
    return (
        f"giving {shown} needs the maintain role or a trust of {rules.approver_trust:g} "
        f"earned in {repo.full_name}; you have {who.earned:g}"
    )


def _needs_privilege(label, value: int) -> bool:
    """Code-Review -2/+2, and the minimum and maximum of a custom label (its approving and
    vetoing values); the opinions in between are anyone's."""
    if value not in (label.min_value, label.max_value):
        return False
    if label.name == CODE_REVIEW:
        return abs(value) >= 2
    return True


def allowed_values(rules: ReputationRules, who: Trust, repo: Repository, label) -> list[int]:
    """The values of the label the person may give, highest first (0: no vote)."""
    return [
        value
        for value in range(label.max_value, label.min_value - 1, -1)
        if missing_privilege(rules, who, repo, label, value) is None
    ]


def check_vote(
    session: Session, user: User, repo: Repository, label, value: int, rules: ReputationRules
) -> Trust:
    """Raise Forbidden, naming the missing privilege, unless the user may give the value."""
    who = standing(session, user, repo)
    if who.role is None and not user.is_suspended:
        raise NotFound(f"repository {repo.full_name} not found")
    why = missing_privilege(rules, who, repo, label, value)
    if why is not None:
        raise Forbidden(why)
    return who


def may_approve_ci(session: Session, user: User | None, repo: Repository) -> bool:
    """Write role, or enough trust earned in the repository to vouch for a newcomer's code."""
    who = standing(session, user, repo)
    if not who.can_read:
        return False
    if ROLE_RANK[who.role] >= ROLE_RANK["write"]:
        return True
    return who.earned >= rules_of(session).approve_ci_trust


def require_ci_approver(session: Session, user: User | None, repo: Repository) -> None:
    who = standing(session, user, repo)
    if who.role is None:
        raise NotFound(f"repository {repo.full_name} not found")
    if not may_approve_ci(session, user, repo):
        threshold = rules_of(session).approve_ci_trust
        raise Forbidden(
            f"approving a newcomer's CI run needs the write role or a trust of {threshold:g} "
            f"earned in {repo.full_name}; you have {who.earned:g}"
        )
