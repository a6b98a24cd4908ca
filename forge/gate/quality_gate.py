"""The quality gate: a repository's submit rules, and whether a change meets them (its submit
requirements).

The gate (`submit_status`) decides whether a change is ready:

- Code-Review: no -2 (a veto blocks whatever else was given), and a +2, or +1 votes whose
  weights (each voter's trust in the repository, `forge.accounts.trust`) sum to the quorum
  (2.0 by default) with at least one approval by a triager, writer or maintainer, or by
  someone who earned `approver_trust` there; a gate with `community_quorum` on drops that
  last condition. Votes by people without trust show, marked advisory, and never count.
- Verified +1, where required: `require_verified` "always", or "auto" (the default) when the
  repository has `.forge/ci.yml` at the change's head or its branch's tip, or the branch's
  protection requires status checks. A Verified -1 blocks even where +1 is not required.
- Each added label by its function: MaxWithBlock (needs the maximum, the minimum vetoes),
  AnyWithBlock (the minimum vetoes), MaxNoBlock (needs the maximum), NoBlock/NoOp (advisory).
- The author's own votes never count.

Which votes count and what they weigh is `forge.gate.tally`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts import privileges
from forge.accounts.permissions import can, require
from forge.accounts.privileges import CI_VOTER, CODE_REVIEW, VERIFIED
from forge.ci.config import CONFIG_PATH
from forge.config import ReputationRules
from forge.errors import Invalid
from forge.gate.labels import (
    BUILT_IN,
    MAX_LABELS,
    LabelSpec,
    check_built_in,
    check_label,
    delete_label,
    labels_of,
    save_label,
)
from forge.gate.tally import VoteView, ci_verdict, protection_of, required_contexts, votes_of
from forge.git import refs as git_refs
from forge.git.checkout import read_file_at
from forge.models import Change, Repository, User
from forge.models.quality import Label, QualityGate
from forge.repos.branches import open_git
from forge.repos.repositories import disk_path

REQUIRE_VERIFIED = ("auto", "always", "never")
MAX_QUORUM = 100.0
# Crowdsourced triage (forge.issues.triage): the trust-weighted "I can reproduce this" that
# confirm a report; two writers' worth, as the quorum is two approvals' worth.
DEFAULT_TRIAGE_THRESHOLD = 2.0


@dataclass
class Gate:
    """A repository's submit rules (the defaults when it never changed them)."""

    enabled: bool = True
    quorum: float = 2.0
    require_verified: str = "auto"
    auto_submit: bool = True
    # Off (the default): Code-Review needs an approval by a person with standing (a +2, or a
    # +1 from a triager, writer or someone with `approver_trust` earned). On: trust-weighted
    # +1s reaching the quorum pass without one.
    community_quorum: bool = False
    triage_threshold: float = DEFAULT_TRIAGE_THRESHOLD


def gate_of(session: Session, repo: Repository) -> Gate:
    row = session.scalar(select(QualityGate).where(QualityGate.repository_id == repo.id))
    if row is None:
        return Gate()
    threshold = row.triage_threshold
    return Gate(
        row.enabled,
        row.quorum,
        row.require_verified,
        row.auto_submit,
        row.community_quorum,
        DEFAULT_TRIAGE_THRESHOLD if threshold is None else threshold,
    )


def update_gate(
    session: Session,
    actor: User,
    repo: Repository,
    *,
    enabled: bool | None = None,
    quorum: float | None = None,
    require_verified: str | None = None,
    auto_submit: bool | None = None,
    community_quorum: bool | None = None,
    labels: list[LabelSpec] | None = None,
    triage_threshold: float | None = None,
) -> Gate:
    """Change the gate's settings (those given); `labels`, when given, is the full list of
    labels: added ones missing from it are removed, built-in ones missing are kept.
    Everything is checked before anything is written."""
    require(session, actor, "admin", repo)
    switches = (
        ("enabled", enabled), ("auto_submit", auto_submit), ("community_quorum", community_quorum)
    )  # fmt: skip
    for name, value in switches:
        if value is not None and not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false", field=name)
    if quorum is not None:
        if isinstance(quorum, bool) or not isinstance(quorum, int | float):
            raise Invalid("quorum must be a number", field="quorum")
        if not 0 < quorum <= MAX_QUORUM:
            raise Invalid(f"quorum must be above 0 and at most {MAX_QUORUM:g}", field="quorum")
    if triage_threshold is not None:
        if isinstance(triage_threshold, bool) or not isinstance(triage_threshold, int | float):
            raise Invalid("triage_threshold must be a number", field="triage_threshold")
        if not 0 < triage_threshold <= MAX_QUORUM:
            raise Invalid(
                f"triage_threshold must be above 0 and at most {MAX_QUORUM:g}",
                field="triage_threshold",
            )
    if require_verified is not None and require_verified not in REQUIRE_VERIFIED:
        raise Invalid(
            f"require_verified must be one of {', '.join(REQUIRE_VERIFIED)}",
            field="require_verified",
        )
    if labels is not None:
        if len(labels) > MAX_LABELS:
            raise Invalid(f"a repository has at most {MAX_LABELS} labels", field="labels")
        seen: set[str] = set()
        current = {lb.name.lower(): lb for lb in labels_of(session, repo)}
        for spec in labels:
            check_label(spec)
            if spec.name.lower() in seen:
                raise Invalid(f"the label {spec.name} is listed twice", field="labels")
            seen.add(spec.name.lower())
            existing = current.get(spec.name.lower())
            if existing is not None and existing.name in BUILT_IN:
                check_built_in(existing, spec)
    row = session.scalar(select(QualityGate).where(QualityGate.repository_id == repo.id))
    if row is None:
        defaults = Gate()
        row = QualityGate(
            repository_id=repo.id,
            enabled=defaults.enabled,
            quorum=defaults.quorum,
            require_verified=defaults.require_verified,
            auto_submit=defaults.auto_submit,
            community_quorum=defaults.community_quorum,
        )
        session.add(row)
    if enabled is not None:
        row.enabled = enabled
    if quorum is not None:
        row.quorum = float(quorum)
    if require_verified is not None:
        row.require_verified = require_verified
    if auto_submit is not None:
        row.auto_submit = auto_submit
    if community_quorum is not None:
        row.community_quorum = community_quorum
    if triage_threshold is not None:
        row.triage_threshold = float(triage_threshold)
    if labels is not None:
        wanted = {spec.name.lower() for spec in labels}
        for label in labels_of(session, repo):
            if label.name not in BUILT_IN and label.name.lower() not in wanted:
                delete_label(session, actor, repo, label.name)
        for spec in labels:
            save_label(session, actor, repo, spec)
    session.flush()
    return gate_of(session, repo)


@dataclass
class Requirement:
    """One line of the submit requirements panel: met or not, and a sentence saying why."""

    name: str
    met: bool
    summary: str


@dataclass
class SubmitStatus:
    ready: bool
    unmet: list[str]
    requirements: list[Requirement]
    enabled: bool = True
    verified_required: bool = False


def verified_required(session: Session, repos_dir: Path, change: Change, gate: Gate) -> bool:
    if gate.require_verified != "auto":
        return gate.require_verified == "always"
    if required_contexts(session, change):
        return True
    repo_path = disk_path(repos_dir, change.repository)
    with open_git(repos_dir, change.repository) as git:
        tip = git_refs.current_value(git, f"refs/heads/{change.base_branch}")
    for sha in (change.head_sha, tip):
        if sha != git_refs.ZERO and read_file_at(repo_path, sha, CONFIG_PATH) is not None:
            return True
    return False


def submit_status(
    session: Session,
    repos_dir: Path,
    change: Change,
    *,
    rules: ReputationRules | None = None,
    views: list[VoteView] | None = None,
) -> SubmitStatus:
    """Whether the change may be submitted under its repository's quality gate, and why not:
    `unmet` holds one sentence per missing requirement, `requirements` every one with met or
    missing, for the change page. `views`: the change's `votes_of`, when the caller has them."""
    repo = change.repository
    rules = rules or privileges.rules_of(session)
    gate = gate_of(session, repo)
    if change.state != "open":
        reason = f"the change is {change.state}"
        return SubmitStatus(False, [reason], [Requirement("State", False, reason)], gate.enabled)
    if not gate.enabled:
        line = Requirement("Quality gate", True, f"off in {repo.full_name}: any writer may merge")
        return SubmitStatus(True, [], [line], enabled=False)
    views = views if views is not None else votes_of(session, change, rules=rules)
    counted = [v for v in views if v.counted]
    labels = labels_of(session, repo)
    needs_verified = verified_required(session, repos_dir, change, gate)
    requirements = []
    for label in labels:
        given = [v for v in counted if v.label == label.name]
        if label.name == CODE_REVIEW:
            requirements.append(_code_review(label, given, gate, repo, rules))
        elif label.name == VERIFIED:
            requirements.append(_verified(session, change, given, needs_verified))
        elif label.function not in ("NoBlock", "NoOp"):
            requirements.append(_by_function(label, given))
    rule = protection_of(session, change)
    if rule is not None and (rule.required_status_checks or {}).get("strict"):
        requirements.append(_up_to_date(repos_dir, change))
    unmet = [f"{r.name}: {r.summary}" for r in requirements if not r.met]
    return SubmitStatus(not unmet, unmet, requirements, True, needs_verified)


def _up_to_date(repos_dir: Path, change: Change) -> Requirement:
    """GitHub's strict status checks: the change must hold the target branch's tip, so the
    checks that passed ran on what will land."""
    with open_git(repos_dir, change.repository) as git:
        tip = git_refs.current_value(git, f"refs/heads/{change.base_branch}")
        current = tip == git_refs.ZERO or git_refs.is_ancestor(git, tip, change.head_sha)
    if current:
        return Requirement("Up to date", True, f"the change holds the tip of {change.base_branch}")
    return Requirement(
        "Up to date",
        False,
        f"{change.base_branch} has moved on: update the change onto it (the branch's "
        "protection requires changes to be up to date before merging)",
    )


def approvals_of(
    session: Session, change: Change, views: list[VoteView] | None = None
) -> list[VoteView]:
    """The approvals of the current patch set as the gate reads Code-Review: its counted votes
    at the label's highest value (a +2), the ones that satisfy it on their own."""
    views = views if views is not None else votes_of(session, change)
    label = next((x for x in labels_of(session, change.repository) if x.name == CODE_REVIEW), None)
    if label is None:
        return []
    return [v for v in views if v.counted and v.label == CODE_REVIEW and v.value == label.max_value]


def decider_of(
    session: Session, change: Change, views: list[VoteView] | None = None
) -> User | None:
    """Whose vote made the change submittable: the latest counted Code-Review approval (a
    +2 when there is one, else a trusted +1). None when no counted vote approves it."""
    views = views if views is not None else votes_of(session, change)
    approving = [
        v for v in views
        if v.counted and v.label == CODE_REVIEW and v.value > 0 and v.user_id and v.weight > 0
    ]  # fmt: skip
    if not approving:
        return None
    best = max(v.value for v in approving)
    chosen = max(
        (v for v in approving if v.value == best),
        key=lambda v: (v.at is not None, v.at or 0, v.user_id),
    )
    return session.get(User, chosen.user_id)


def _names(votes: list[VoteView]) -> str:
    return ", ".join(sorted({v.user for v in votes}))


def _code_review(
    label: Label, given: list[VoteView], gate: Gate, repo: Repository, rules: ReputationRules
) -> Requirement:
    quorum = gate.quorum
    vetoes = [v for v in given if v.value == label.min_value]
    if vetoes:
        return Requirement(
            label.name, False, f"vetoed with {label.min_value:+d} by {_names(vetoes)}"
        )
    approvals = [v for v in given if v.value == label.max_value]
    if approvals:
        return Requirement(
            label.name, True, f"approved with {label.max_value:+d} by {_names(approvals)}"
        )
    plus = [v for v in given if v.value > 0]
    total = round(sum(v.weight for v in plus), 2)
    approvers = [v for v in plus if v.approver]
    if plus and total >= quorum and (approvers or gate.community_quorum):
        return Requirement(
            label.name, True,
            f"a quorum of weighted +1 votes ({total:g} of {quorum:g}) from {_names(plus)}",
        )  # fmt: skip
    if plus and total >= quorum:
        return Requirement(
            label.name, False,
            f"the weighted +1 votes reach the quorum ({total:g} of {quorum:g}), but none is an "
            f"approval by a triager, writer or maintainer of {repo.full_name} or by someone "
            f"with a trust of {rules.approver_trust:g} earned there (the gate's community "
            "quorum is off)",
        )  # fmt: skip
    return Requirement(
        label.name, False,
        f"needs {label.max_value:+d} or a quorum of {quorum:.1f} weighted +1 (has {total:g})",
    )  # fmt: skip


def _verified(
    session: Session, change: Change, given: list[VoteView], required: bool
) -> Requirement:
    # Someone's explicit vote (a maintainer's override, or forge-ci's recorded one) comes
    # first; the newest wins. Otherwise the CI verdict computed into the votes list.
    explicit = [v for v in given if v.user_id is not None]
    chosen = max(explicit, key=lambda v: v.at) if explicit else (given[0] if given else None)
    if chosen is not None and chosen.value < 0:
        why = (
            chosen.message if chosen.user == CI_VOTER and chosen.message else f"-1 by {chosen.user}"
        )
        return Requirement(VERIFIED, False, f"failed: {why}")
    if chosen is not None and chosen.value > 0:
        by = "forge's CI" if chosen.user == CI_VOTER else chosen.user
        return Requirement(VERIFIED, True, f"+1 by {by}")
    if not required:
        return Requirement(
            VERIFIED, True, "not required: no .forge/ci.yml and no required status check"
        )
    verdict = ci_verdict(session, change)
    return Requirement(VERIFIED, False, f"needs +1 from CI or a maintainer ({verdict.summary})")


def _by_function(label: Label, given: list[VoteView]) -> Requirement:
    blocks = label.function in ("MaxWithBlock", "AnyWithBlock")
    needs_max = label.function in ("MaxWithBlock", "MaxNoBlock")
    vetoes = [v for v in given if v.value == label.min_value]
    if blocks and vetoes:
        return Requirement(
            label.name, False, f"vetoed with {label.min_value:+d} by {_names(vetoes)}"
        )
    best = [v for v in given if v.value == label.max_value]
    if needs_max and not best:
        return Requirement(label.name, False, f"needs {label.max_value:+d}")
    if best:
        return Requirement(label.name, True, f"{label.max_value:+d} by {_names(best)}")
    return Requirement(label.name, True, f"no {label.min_value:+d}")


def enforces_admins(session: Session, change: Change) -> bool:
    """Whether the protection of the change's branch holds admins to the gate too."""
    rule = protection_of(session, change)
    return rule is not None and rule.enforce_admins


def admin_may_bypass(session: Session, actor: User | None, change: Change) -> bool:
    """May `actor` merge (or queue) the change past unmet submit requirements? A repository
    admin may, as GitHub lets admins bypass branch protection, unless the branch's protection
    enforces its rules for admins too."""
    return can(session, actor, "admin", change.repository) and not enforces_admins(session, change)
