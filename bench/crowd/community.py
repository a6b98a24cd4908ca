"""The simulated community: who writes and reviews, what each change really is, and how each
kind of person judges one. Pure Python, no forge: `world` turns these into forge's rows and
calls, `simulate` runs the rounds.

Every draw that decides a verdict comes from a random generator seeded by (run seed, change,
person), so two runs on the same seed with different gates see the same changes and the same
person gives the same verdict on the same change, whichever gate is deciding.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

GOOD, BAD_CI, BAD_SUBTLE = "good", "bad-ci", "bad-subtle"

# What a review costs (hours) and how often a verdict is right, by kind of reviewer. A
# diligent reviewer reads the change and runs it; a careless one (Stack Exchange's
# "robo-reviewer") clicks approve; a hostile one inverts what they see.
REVIEW_HOURS = {"maintainer": 0.5, "diligent": 0.5, "careless": 0.05, "hostile": 0.25,
                "sybil": 0.02}  # fmt: skip
HOURS_PER_ROUND = {"diligent": 1.5, "careless": 0.5, "hostile": 1.0}
# P(verdict "good") for each kind of reviewer, by the change's hidden truth.
APPROVES = {
    "maintainer": {GOOD: 0.97, BAD_CI: 0.12, BAD_SUBTLE: 0.2},
    "diligent": {GOOD: 0.93, BAD_CI: 0.2, BAD_SUBTLE: 0.3},
    "careless": {GOOD: 0.95, BAD_CI: 0.9, BAD_SUBTLE: 0.92},
    "hostile": {GOOD: 0.1, BAD_CI: 0.9, BAD_SUBTLE: 0.9},
}
# A maintainer who reads a -1 from someone with standing looks where it points.
APPROVES_AFTER_A_WARNING = {GOOD: 0.9, BAD_CI: 0.04, BAD_SUBTLE: 0.06}
CI_CATCHES = 0.9  # a defect of the kind tests find is found by CI this often
FOUND_AFTER_LANDING = {BAD_CI: 0.5, BAD_SUBTLE: 0.25}  # per round, while the revert window lasts
AUDIT_HOURS = 0.25  # a maintainer re-proposing a known change as an audit


@dataclass(frozen=True)
class Scenario:
    """One community and its stream of changes; the gate is chosen per run."""

    seed: int = 1
    rounds: int = 20
    authors: int = 10
    submit_chance: float = 0.5  # per author per round
    reviewers: int = 8
    careless_share: float = 0.25
    hostile_share: float = 0.1
    maintainers: int = 2
    maintainer_hours: float = 2.0  # each, per round
    ring_size: int = 0  # sybil accounts run by one attacker (0: no attack)
    ring_attack_every: int = 4  # rounds between the attacker's bad changes
    ring_copy_votes: int = 10  # the attacker's copy votes per change a maintainer approved
    audit_every: int = 1  # rounds between a maintainer's audits (0: none)
    max_age: int = 6  # rounds an open change waits before its author gives up

    def label(self) -> str:
        return (f"careless {self.careless_share:.0%}, hostile {self.hostile_share:.0%}, "
                f"ring {self.ring_size}, maintainer {self.maintainer_hours:g} h")  # fmt: skip


@dataclass
class Person:
    name: str
    kind: str  # maintainer, diligent, careless, hostile, sybil, author
    skill: float = 0.0  # authors: the chance a change of theirs is good
    hours: float = 0.0  # reviewing time per round
    id: int | None = None  # the forge user's id


@dataclass
class Proposal:
    """A change as the simulation knows it: its truth, and what CI will say."""

    index: int
    author: Person
    truth: str
    ci_passes: bool
    opened: int  # round
    audit: str | None = None  # "bad"/"good" when a maintainer made it an audit
    attack: bool = False  # the sybil ring's own change
    change_id: int | None = None
    landed: int | None = None
    closed: int | None = None
    reverted: int | None = None
    votes: dict[int, int] = field(default_factory=dict)  # person id -> value

    @property
    def bad(self) -> bool:
        return self.truth != GOOD


def draw(seed: int, *parts) -> random.Random:
    """A generator fixed by the run's seed and what it decides (a change, a person)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def cast(scenario: Scenario) -> dict[str, list[Person]]:
    """Who takes part: maintainers, authors of varying skill, reviewers by kind, the ring."""
    rng = draw(scenario.seed, "cast")
    maintainers = [Person(f"maint{i}", "maintainer", hours=scenario.maintainer_hours)
                   for i in range(scenario.maintainers)]  # fmt: skip
    authors = [Person(f"author{i}", "author", skill=rng.uniform(0.55, 0.95))
               for i in range(scenario.authors)]  # fmt: skip
    careless = round(scenario.reviewers * scenario.careless_share)
    hostile = round(scenario.reviewers * scenario.hostile_share)
    kinds = ["careless"] * careless + ["hostile"] * hostile
    kinds += ["diligent"] * max(0, scenario.reviewers - len(kinds))
    reviewers = [Person(f"{kind}{i}", kind, hours=HOURS_PER_ROUND[kind])
                 for i, kind in enumerate(kinds)]  # fmt: skip
    ring = [Person(f"sybil{i}", "sybil") for i in range(scenario.ring_size)]
    return {"maintainers": maintainers, "authors": authors, "reviewers": reviewers, "ring": ring}


def propose(scenario: Scenario, index: int, author: Person, opened: int) -> Proposal:
    """A new change: good with the author's skill, else a defect of one kind or the other."""
    rng = draw(scenario.seed, "change", index)
    truth = GOOD if rng.random() < author.skill else rng.choice((BAD_CI, BAD_SUBTLE))
    ci_passes = not (truth == BAD_CI and rng.random() < CI_CATCHES)
    return Proposal(index, author, truth, ci_passes, opened)


def attack_change(scenario: Scenario, index: int, attacker: Person, opened: int) -> Proposal:
    """The ring's payload: a defect only a careful reviewer finds, which CI passes."""
    return Proposal(index, attacker, BAD_SUBTLE, True, opened, attack=True)


def audit_change(scenario: Scenario, index: int, maintainer: Person, opened: int) -> Proposal:
    """A maintainer re-proposes a change whose answer they know: known-bad (a defect found
    earlier that CI does not catch) and known-good in turns, so that every reviewer meets as
    many of each however few audits there were."""
    expected = "bad" if opened % 2 == 0 else "good"
    truth = BAD_SUBTLE if expected == "bad" else GOOD
    return Proposal(index, maintainer, truth, True, opened, audit=expected)


def judges_good(seed: int, person: Person, proposal: Proposal, warned: bool = False) -> bool:
    """The person's verdict on the change (the same on every run of the seed)."""
    rng = draw(seed, "verdict", proposal.index, person.name)
    if person.kind == "sybil":
        return True  # the ring approves its own change and copies approvals otherwise
    table = APPROVES_AFTER_A_WARNING if warned and person.kind == "maintainer" else None
    table = table or APPROVES[person.kind]
    return rng.random() < table[proposal.truth]


def found_in_production(seed: int, proposal: Proposal, round_: int) -> bool:
    """A landed bad change is found (and reverted) this round."""
    if not proposal.bad or proposal.reverted is not None:
        return False
    return (
        draw(seed, "found", proposal.index, round_).random() < FOUND_AFTER_LANDING[proposal.truth]
    )
