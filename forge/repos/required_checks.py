"""The required status checks of a protected branch, changed on their own (GitHub's
.../protection/required_status_checks and .../contexts): which contexts must report success
on a commit before it lands on the branch, and whether (`strict`) a change must also be up to
date with the branch first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.errors import Invalid, NotFound
from forge.models import BranchProtection, Repository, User
from forge.repos.branches import get_protection

MAX_CONTEXT = 255
HOW = ("add", "set", "remove")


def _checked(contexts) -> list[str]:
    if not isinstance(contexts, list) or not all(
        isinstance(c, str) and 0 < len(c) <= MAX_CONTEXT for c in contexts
    ):
        raise Invalid("contexts must be a list of names of 1 to 255 characters", "contexts")
    return list(dict.fromkeys(contexts))  # once each, in the order given


def required_checks(session: Session, repo: Repository, actor: User | None, branch: str):
    """The branch's protection rule, which must require status checks (NotFound if not)."""
    require(session, actor, "admin", repo)
    rule = get_protection(session, repo, branch)
    if rule.required_status_checks is None:
        raise NotFound("Required status checks not enabled")
    return rule


def update_required_checks(
    session: Session,
    repo: Repository,
    actor: User,
    branch: str,
    *,
    strict: bool | None = None,
    contexts: list[str] | None = None,
) -> BranchProtection:
    """Change `strict` and/or the contexts of a protected branch; turning the requirement on
    if it was off (the branch must be protected)."""
    require(session, actor, "admin", repo)
    rule = get_protection(session, repo, branch)
    current = dict(rule.required_status_checks or {"strict": False, "contexts": []})
    if strict is not None:
        current["strict"] = bool(strict)
    if contexts is not None:
        current["contexts"] = _checked(contexts)
    rule.required_status_checks = current  # a new dict: the JSON column sees the change
    session.flush()
    return rule


def remove_required_checks(session: Session, repo: Repository, actor: User, branch: str) -> None:
    rule = required_checks(session, repo, actor, branch)
    rule.required_status_checks = None
    session.flush()


def change_contexts(
    session: Session, repo: Repository, actor: User, branch: str, contexts, how: str
) -> list[str]:
    """Add to, replace or remove from the required contexts; the contexts now required."""
    if how not in HOW:
        raise ValueError(how)
    rule = required_checks(session, repo, actor, branch)
    given = _checked(contexts)
    now = list(rule.required_contexts)
    if how == "add":
        now += [c for c in given if c not in now]
    elif how == "set":
        now = given
    else:
        now = [c for c in now if c not in given]
    rule.required_status_checks = {**rule.required_status_checks, "contexts": now}
    session.flush()
    return now
