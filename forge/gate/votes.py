"""Labels, votes and submit requirements: Gerrit's way of deciding when a change may merge.

A repository votes with *labels* (Code-Review -2..+2 and Verified -1..+1 by default, plus any
its admins add, e.g. QA-Tested). Each person has at most one *vote* per label on a change;
a vote given on an older patch set than the current one is *stale*: kept and shown, never
counted, except that the values a label copies (`copy_values`, Code-Review -1/+1 by default)
move to the new patch set when it is a trivial rebase of the previous one (the same change on
a newer base, or only a new commit message), as Gerrit's copy conditions do.

Verified is forge's CI speaking: +1 when every `ci/*` status (and every check the branch's
protection requires) of the current head passed, -1 when one failed, no vote while they run.
It shows as a vote by "forge-ci". A maintainer's own Verified vote on the current patch set
overrides it, and a Verified vote recorded *as* forge-ci (the merge queue ejecting a change)
stands until the next patch set.

The *quality gate* (`submit_status`) decides whether a change is ready:

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forge import events
from forge.accounts import privileges
from forge.accounts.permissions import can, require
from forge.accounts.privileges import CI_VOTER, CODE_REVIEW, VERIFIED
from forge.ci.config import CONFIG_PATH
from forge.config import ReputationRules
from forge.db import utcnow
from forge.errors import Invalid
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.checkout import read_file_at
from forge.git.storage import open_repo
from forge.models import BranchProtection, Change, ChangeEvent, PatchSet, Repository, User
from forge.models.quality import Label, QualityGate, Vote
from forge.repos.branches import open_git
from forge.repos.repositories import disk_path
from forge.repos.statuses import latest_per_context, statuses_for

FUNCTIONS = ("MaxWithBlock", "AnyWithBlock", "MaxNoBlock", "NoBlock", "NoOp")
REQUIRE_VERIFIED = ("auto", "always", "never")
LABEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
MAX_LABELS = 20
VALUE_LIMIT = 5  # label ranges stay within -5..+5
MAX_QUORUM = 100.0
MAX_MESSAGE = 65536

# name, min, max, function, copy values, description
DEFAULT_LABELS = (
    (CODE_REVIEW, -2, 2, "MaxWithBlock", "-1,1", "Review of the code: +2 approves, -2 vetoes"),
    (VERIFIED, -1, 1, "MaxWithBlock", "", "The change builds and passes its tests (forge's CI)"),
)
BUILT_IN = {row[0] for row in DEFAULT_LABELS}
# What each value of the built-in labels means, as Gerrit words it.
MEANINGS = {
    CODE_REVIEW: {
        2: "Looks good to me, approved",
        1: "Looks good to me, but someone else must approve",
        0: "No score",
        -1: "I would prefer this is not merged as is",
        -2: "This shall not be merged",
    },
    VERIFIED: {1: "Verified", 0: "No score", -1: "Fails"},
}


def meaning(label: Label, value: int) -> str:
    known = MEANINGS.get(label.name, {}).get(value)
    return known or ("No score" if value == 0 else f"{label.name} {value:+d}")


# --- labels ------------------------------------------------------------------------------------


def labels_of(session: Session, repo: Repository) -> list[Label]:
    """The repository's labels in order; the defaults get their rows on first reading."""
    found = _labels(session, repo)
    missing = BUILT_IN - {label.name for label in found}
    if not missing:
        return found
    for position, (name, low, high, function, copy, text) in enumerate(DEFAULT_LABELS):
        if name not in missing:
            continue
        row = Label(
            repository_id=repo.id, name=name, min_value=low, max_value=high,
            function=function, copy_values=copy, description=text, position=position,
        )  # fmt: skip
        try:
            with session.begin_nested():  # another request may write them at the same time
                session.add(row)
        except IntegrityError:
            pass
    return _labels(session, repo)


def _labels(session: Session, repo: Repository) -> list[Label]:
    return list(
        session.scalars(
            select(Label).where(Label.repository_id == repo.id).order_by(Label.position, Label.id)
        )
    )


def find_label(session: Session, repo: Repository, name) -> Label:
    labels = labels_of(session, repo)
    if isinstance(name, str):
        for label in labels:
            if label.name.lower() == name.strip().lower():
                return label
    names = ", ".join(label.name for label in labels)
    raise Invalid(f"{repo.full_name} has no label {name!r}; its labels are {names}", "label")


def copy_values_of(label: Label) -> set[int]:
    return {int(v) for v in label.copy_values.split(",") if v.strip()}


@dataclass
class LabelSpec:
    """A label as an admin asks for it (from the API or the settings page), checked."""

    name: str
    min_value: int
    max_value: int
    function: str = "MaxWithBlock"
    copy_values: list[int] = field(default_factory=list)
    description: str = ""


def check_label(spec: LabelSpec) -> LabelSpec:
    """Refuse a label that cannot work, with a sentence naming what is wrong."""
    if not isinstance(spec.name, str) or not LABEL_NAME.fullmatch(spec.name):
        raise Invalid(
            f"invalid label name {spec.name!r}: use 1 to 64 letters, digits or '-', "
            "starting with a letter or digit",
            field="name",
        )
    for what, value in (("min", spec.min_value), ("max", spec.max_value)):
        if not _is_int(value) or not -VALUE_LIMIT <= value <= VALUE_LIMIT:
            raise Invalid(
                f"{spec.name}: {what} must be a whole number from -{VALUE_LIMIT} to +{VALUE_LIMIT}",
                field=what,
            )
    if not spec.min_value <= 0 < spec.max_value:
        raise Invalid(
            f"{spec.name}: the range must go from 0 or below to above 0 (min <= 0 < max)",
            field="min",
        )
    if spec.function not in FUNCTIONS:
        raise Invalid(f"{spec.name}: function must be one of {', '.join(FUNCTIONS)}", "function")
    copies = spec.copy_values
    if not isinstance(copies, list) or not all(_is_int(v) for v in copies):
        raise Invalid(f"{spec.name}: copy_values must be a list of values", field="copy_values")
    outside = [v for v in copies if v == 0 or not spec.min_value <= v <= spec.max_value]
    if outside:
        raise Invalid(
            f"{spec.name}: copy_values must be non-zero values of the label's range "
            f"({spec.min_value:+d}..{spec.max_value:+d}), not {outside[0]:+d}",
            field="copy_values",
        )
    if not isinstance(spec.description, str) or len(spec.description) > 1000:
        raise Invalid(f"{spec.name}: description must be text of at most 1000 characters")
    return spec


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_built_in(existing: Label, spec: LabelSpec) -> None:
    """The gate's own labels keep their ranges and functions: its rules are written for them."""
    if (spec.min_value, spec.max_value, spec.function) != (
        existing.min_value,
        existing.max_value,
        existing.function,
    ):
        raise Invalid(
            f"{existing.name} is built into the quality gate: its range "
            f"({existing.min_value:+d}..{existing.max_value:+d}) and function "
            f"({existing.function}) cannot change; only its description and copy_values can",
            field="labels",
        )


def save_label(session: Session, actor: User, repo: Repository, spec: LabelSpec) -> Label:
    """Add a label, or change the one of that name (names compare without case)."""
    require(session, actor, "admin", repo)
    check_label(spec)
    labels = labels_of(session, repo)
    existing = next((lb for lb in labels if lb.name.lower() == spec.name.lower()), None)
    if existing is None:
        if len(labels) >= MAX_LABELS:
            raise Invalid(f"a repository has at most {MAX_LABELS} labels", field="labels")
        existing = Label(
            repository_id=repo.id,
            name=spec.name,
            position=max((lb.position for lb in labels), default=0) + 1,
        )
        session.add(existing)
    elif existing.name in BUILT_IN:
        _check_built_in(existing, spec)
    existing.min_value, existing.max_value = spec.min_value, spec.max_value
    existing.function = spec.function
    existing.copy_values = ",".join(str(v) for v in sorted(set(spec.copy_values)))
    existing.description = spec.description.strip()
    session.flush()
    return existing


def delete_label(session: Session, actor: User, repo: Repository, name: str) -> None:
    """Remove an added label and the votes given with it."""
    require(session, actor, "admin", repo)
    label = find_label(session, repo, name)
    if label.name in BUILT_IN:
        raise Invalid(f"{label.name} is built into the quality gate and cannot be removed")
    changes = select(Change.id).where(Change.repository_id == repo.id)
    session.execute(
        delete(Vote)
        .where(Vote.label == label.name, Vote.change_id.in_(changes))
        .execution_options(synchronize_session=False)
    )
    session.delete(label)
    session.flush()


# --- the quality gate ----------------------------------------------------------------------


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


def gate_of(session: Session, repo: Repository) -> Gate:
    row = session.scalar(select(QualityGate).where(QualityGate.repository_id == repo.id))
    if row is None:
        return Gate()
    return Gate(
        row.enabled, row.quorum, row.require_verified, row.auto_submit, row.community_quorum
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
                _check_built_in(existing, spec)
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
    if labels is not None:
        wanted = {spec.name.lower() for spec in labels}
        for label in labels_of(session, repo):
            if label.name not in BUILT_IN and label.name.lower() not in wanted:
                delete_label(session, actor, repo, label.name)
        for spec in labels:
            save_label(session, actor, repo, spec)
    session.flush()
    return gate_of(session, repo)


# --- votes ---------------------------------------------------------------------------------


def ci_voter(session: Session) -> User:
    """The account forge's CI votes with: no password, never signs in (suspended), its name
    reserved so nobody else can take it."""
    found = session.scalar(select(User).where(User.lower_name == CI_VOTER))
    if found is not None:
        return found
    bot = User(
        name=CI_VOTER,
        lower_name=CI_VOTER,
        email="forge-ci@localhost",
        full_name="forge's CI",
        password_hash="!",  # no password hash matches this
        is_suspended=True,
    )
    try:
        with session.begin_nested():
            session.add(bot)
    except IntegrityError:  # made by another request just now
        return session.scalar(select(User).where(User.lower_name == CI_VOTER))
    return bot


@dataclass
class Recorded:
    vote: Vote | None  # None when the vote was removed (or there was none to remove)
    action: str | None  # created, updated, deleted; None when nothing changed


def record_vote(
    session: Session,
    actor: User | None,
    change: Change,
    label: str,
    value,
    message: str = "",
    via: str = "web",
    *,
    rules: ReputationRules | None = None,
) -> Recorded:
    """Give, change or (value 0) take back the actor's vote on the change's current patch set.

    `actor` None is forge's CI (Verified only). Refused with Invalid for a value outside the
    label's range and Forbidden naming the missing privilege.
    """
    repo = change.repository
    rules = rules or privileges.rules_of(session)
    found = find_label(session, repo, label)
    if not _is_int(value):
        raise Invalid(f"{found.name}: value must be a whole number", field="value")
    if not found.min_value <= value <= found.max_value:
        raise Invalid(
            f"{found.name} must be between {found.min_value:+d} and {found.max_value:+d}",
            field="value",
        )
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise Invalid("the message is too long", field="message")
    if actor is None:
        if found.name != VERIFIED:
            raise Invalid("forge's CI votes only on Verified", field="label")
        voter = ci_voter(session)
    else:
        privileges.check_vote(session, actor, repo, found, value, rules)
        voter = actor
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; its votes are final")
    vote = session.scalar(
        select(Vote).where(
            Vote.change_id == change.id, Vote.user_id == voter.id, Vote.label == found.name
        )
    )
    patch_set = change.current_patch_set.number
    if vote is None and value == 0:
        return Recorded(None, None)
    given = (value, patch_set, message)
    if vote is not None and (vote.value, vote.patch_set_number, vote.message) == given:
        return Recorded(vote, None)
    # Write first: on SQLite the savepoint below then nests in this transaction rather than
    # beginning one of its own (which releasing it would commit).
    change.updated_at = utcnow()
    shown = f"{found.name}:{value:+d}" if value else f"{found.name}:0"
    if via != "review":  # a review is on the timeline already, with its verdict
        session.add(ChangeEvent(change_id=change.id, actor_id=voter.id, kind="vote", detail=shown))
    session.flush()
    if value == 0:
        session.delete(vote)
        action = "deleted"
    elif vote is None:
        vote = Vote(
            change_id=change.id, user=voter, label=found.name, value=value, message=message,
            patch_set_number=patch_set, via=via,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(vote)
        except IntegrityError:  # the same person's other request won the race
            raise Invalid(
                f"your {found.name} vote was recorded by another request just now; reload and "
                "vote again if you meant to change it",
                field="label",
            ) from None
        action = "created"
    else:
        vote.value, vote.message, vote.patch_set_number, vote.via = value, message, patch_set, via
        vote.updated_at = utcnow()
        action = "updated"
    session.flush()
    events.publish(session, events.VoteCast(change=change, vote=vote, sender=voter, action=action))
    return Recorded(None if action == "deleted" else vote, action)


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


# --- new patch sets ------------------------------------------------------------------------


def carry_votes(
    session: Session, repo_path: Path, change: Change, previous: PatchSet, new: PatchSet
) -> int:
    """On a new patch set, votes stay on the one they were given on (so they go stale), except
    the values a label copies, which move on when the new patch set is a trivial rebase (the
    same diff on a newer base, or a new commit message only). Returns how many moved."""
    copies = {label.name: copy_values_of(label) for label in labels_of(session, change.repository)}
    movable = [
        vote
        for vote in session.scalars(
            select(Vote).where(
                Vote.change_id == change.id, Vote.patch_set_number == previous.number
            )
        )
        if vote.value in copies.get(vote.label, set())
    ]
    if not movable:
        return 0
    with open_repo(repo_path) as git:
        if not is_trivial_rebase(git, previous, new):
            return 0
    for vote in movable:
        vote.patch_set_number = new.number
    return len(movable)


def on_patch_set_uploaded(session: Session, event: events.PatchSetUploaded) -> None:
    """Subscriber: the copied votes of a trivial rebase move to the new patch set."""
    carry_votes(session, event.repo_path, event.change, event.previous, event.patch_set)


def is_trivial_rebase(git: Repo, previous: PatchSet, new: PatchSet) -> bool:
    """The new patch set makes the same change as the previous one, on its own base."""
    diff = git_merge.interdiff(
        git, previous.base_sha, previous.head_sha, new.base_sha, new.head_sha
    )
    return diff == b""


# --- submit requirements -------------------------------------------------------------------


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
    unmet = [f"{r.name}: {r.summary}" for r in requirements if not r.met]
    return SubmitStatus(not unmet, unmet, requirements, True, needs_verified)


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


def on_review_submitted(session: Session, event: events.ReviewSubmitted) -> None:
    """Subscriber: a review's verdict is the reviewer's Code-Review vote."""
    vote_for_review(session, event.sender, event.change, event.verdict, event.review.body)


def vote_for_review(session: Session, reviewer: User, change: Change, event: str, body: str):
    """A GitHub review as a Code-Review vote: APPROVE is +2 from someone who may give it, else
    +1; REQUEST_CHANGES is -1 (a veto already given stays); COMMENT leaves votes alone."""
    if event not in ("APPROVE", "REQUEST_CHANGES"):
        return None
    rules = privileges.rules_of(session)
    label = find_label(session, change.repository, CODE_REVIEW)
    who = privileges.standing(session, reviewer, change.repository)
    if event == "APPROVE":
        may_approve = privileges.missing_privilege(rules, who, change.repository, label, 2) is None
        value = label.max_value if may_approve else 1
    else:
        mine = session.scalar(
            select(Vote).where(
                Vote.change_id == change.id, Vote.user_id == reviewer.id, Vote.label == label.name
            )
        )
        current = change.current_patch_set.number
        value = mine.value if mine and mine.value < 0 and mine.patch_set_number == current else -1
    return record_vote(session, reviewer, change, label.name, value, body, "review", rules=rules)
