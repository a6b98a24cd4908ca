"""A repository's labels: what people vote with on its changes, Gerrit's way.

A repository votes with *labels* (Code-Review -2..+2 and Verified -1..+1 by default, plus any
its admins add, e.g. QA-Tested). Each label has a *function* saying how it blocks or allows a
submit (MaxWithBlock, AnyWithBlock, MaxNoBlock, NoBlock/NoOp; `forge.gate.quality_gate`
applies them) and the values it copies to a new patch set that is a trivial rebase
(`copy_values`, Code-Review -1/+1 by default; `forge.gate.votes.carry_votes`). The built-in
labels keep their ranges and functions: the quality gate's rules are written for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.accounts.privileges import CODE_REVIEW, VERIFIED
from forge.db import added_once
from forge.errors import Invalid
from forge.models import Change, Repository, User
from forge.models.quality import Label, Vote

FUNCTIONS = ("MaxWithBlock", "AnyWithBlock", "MaxNoBlock", "NoBlock", "NoOp")
LABEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
MAX_LABELS = 20
VALUE_LIMIT = 5  # label ranges stay within -5..+5
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
        added_once(session, row)  # another request may write them at the same time
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
        if not is_int(value) or not -VALUE_LIMIT <= value <= VALUE_LIMIT:
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
    if not isinstance(copies, list) or not all(is_int(v) for v in copies):
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


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_built_in(existing: Label, spec: LabelSpec) -> None:
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
        check_built_in(existing, spec)
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
