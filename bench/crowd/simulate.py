"""The rounds of one run: a community proposing, reviewing and deciding changes under one
gate, and what came of it.

A round is a day. Authors propose; CI reports; reviewers, then maintainers, spend their
hours on what forge's review queue offers them; the sybil ring votes for its own change and
copies the maintainers' approvals to farm trust; the gate decides; landed bad changes are
found and reverted now and then; every few rounds a maintainer spends some of their time on
an audit. Every gate sees the same stream (the same proposals, and the same verdict from the
same person on the same change); what differs is what lands, and so what stays to review.

The gates:
- forge-default: `quality_gate.submit_status` with forge's defaults (a +2, or weighted +1s
  reaching the quorum with an approval by someone with standing).
- forge-community: the same with the gate's `community_quorum` on.
- majority: three votes or more, more +1 than -1, every account counting alike.
- maintainer: only the maintainers review (no community), a +2 lands.
- dawid-skene, glad: crowd-kit's truth inference over all votes so far; a change with three
  votes or more lands when its inferred label is good (`baselines`).
CI failing closes a change under every gate, and no gate lands one whose CI failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .community import (
    AUDIT_HOURS,
    GOOD,
    REVIEW_HOURS,
    Person,
    Proposal,
    Scenario,
    attack_change,
    audit_change,
    cast,
    draw,
    found_in_production,
    judges_good,
    propose,
)
from .world import opened_world

FORGE_GATES = ("forge-default", "forge-community")
GATES = FORGE_GATES + ("majority", "maintainer", "dawid-skene", "glad")
MIN_VOTES = 3  # the majority and inference gates decide a change with this many votes
REVERT_WINDOW = 14  # rounds (days), forge's default revert_window_days
SPOTTED = 0.05  # a weight at or under this counts as none: the reviewer has been spotted
# Audits answered by which a careless reviewer's weight is gone with forge's defaults, the
# bound bench/README.md states and tests/test_crowd.py holds forge to.
AUDITS_TO_SPOT = 8
QUEUE_PAGE = 40


@dataclass
class Result:
    gate: str
    scenario: Scenario
    proposed: dict[str, int] = field(default_factory=dict)  # by truth
    landed: dict[str, int] = field(default_factory=dict)  # by truth
    attack_landed: int = 0
    reverted: int = 0
    good_latency: float = 0.0  # mean rounds from proposal to landing, good changes
    reviewer_hours: float = 0.0
    maintainer_hours: float = 0.0
    audits: int = 0
    ring_weight: float = 0.0  # the most the ring held together, any round
    ring_member_weight: float = 0.0  # the most one ring account held
    ring_over_bound: float = 0.0  # the most the ring held beyond what honest people gave it
    careless_spotted_after: list[int | None] = field(default_factory=list)  # audits answered
    careless_strikes: list[int] = field(default_factory=list)  # at the end, per reviewer
    careless_peak: float = 0.0
    careless_final: float = 0.0
    diligent_final: float = 0.0

    @property
    def bad_landed(self) -> int:
        return sum(n for truth, n in self.landed.items() if truth != GOOD)


def run(scenario: Scenario, gate: str) -> Result:
    """One run of the scenario under the gate, on a fresh forge database."""
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; one of {', '.join(GATES)}")
    people = cast(scenario)
    result = Result(gate, scenario)
    with opened_world(scenario.seed, community_quorum=gate == "forge-community") as world:
        everyone = [p for group in people.values() for p in group]
        world.add_people(everyone)
        world.make_project(people["maintainers"])
        world.farm(people["ring"])
        world.end_round()
        Rounds(scenario, gate, people, world, result).play()
    return result


class Rounds:
    def __init__(self, scenario: Scenario, gate: str, people, world, result: Result):
        self.s, self.gate, self.people, self.world, self.result = (
            scenario, gate, people, world, result
        )  # fmt: skip
        self.open: list[Proposal] = []
        self.audits: list[Proposal] = []
        self.landed: list[Proposal] = []
        self.all: list[Proposal] = []
        self.by_change: dict[int, Proposal] = {}
        self.careless_history: dict[str, list[tuple[int, float]]] = {}
        self.inference = None
        self.deciders: set[int] = set()
        if gate in ("dawid-skene", "glad"):
            from .baselines import Inference  # crowd-kit: imported only when it is used

            self.inference = Inference(gate)

    def play(self) -> None:
        for round_ in range(self.s.rounds):
            hours = {p.name: p.hours for p in self.people["maintainers"]}
            self.deciders = self.world.deciders(
                self.people["maintainers"] + self.people["reviewers"] + self.people["ring"]
            )
            self.proposals(round_, hours)
            if self.gate != "maintainer":
                self.community_reviews(round_)
            self.maintainer_reviews(round_, hours)
            if self.gate != "maintainer":
                self.ring_votes()
            self.decide(round_)
            self.close_audits(round_)
            self.reverts(round_)
            self.observe()
            self.world.end_round()
        self.summarise()

    # --- what happens in a round -------------------------------------------------------------

    def _open(self, proposal: Proposal, maintainer: Person | None = None) -> None:
        self.world.open(proposal, maintainer)
        self.by_change[proposal.change_id] = proposal
        self.all.append(proposal)
        (self.audits if proposal.audit else self.open).append(proposal)
        if not proposal.audit:
            self.result.proposed[proposal.truth] = self.result.proposed.get(proposal.truth, 0) + 1

    def proposals(self, round_: int, hours: dict[str, float]) -> None:
        for slot, author in enumerate(self.people["authors"]):
            if draw(self.s.seed, "submits", round_, slot).random() < self.s.submit_chance:
                self._open(propose(self.s, round_ * 10_000 + slot, author, round_))
        ring = self.people["ring"]
        if ring and round_ % self.s.ring_attack_every == 1:
            self._open(attack_change(self.s, round_ * 10_000 + 9_000, ring[0], round_))
        # Audits are forge's: the other gates have no use for them, so no hours go to them.
        if self.gate in FORGE_GATES and self.s.audit_every and round_ % self.s.audit_every == 0:
            maintainers = self.people["maintainers"]
            maintainer = maintainers[round_ // self.s.audit_every % len(maintainers)]
            if hours[maintainer.name] >= AUDIT_HOURS:
                hours[maintainer.name] -= AUDIT_HOURS
                self.result.maintainer_hours += AUDIT_HOURS
                self.result.audits += 1
                self._open(audit_change(self.s, round_ * 10_000 + 9_500, maintainer, round_),
                           maintainer)  # fmt: skip

    def _review(self, person: Person, budget: float, cost: float, maintainer: bool) -> float:
        """The person reviews what the queue offers, while their hours last; returns hours
        spent."""
        spent = 0.0
        for change_id in self.world.queue(person, QUEUE_PAGE):
            if spent + cost > budget + 1e-9:
                break
            proposal = self.by_change[change_id]
            warned = maintainer and self.world.warned(proposal)
            good = judges_good(self.s.seed, person, proposal, warned)
            self.world.vote(person, proposal, good, person.id in self.deciders)
            spent += cost
        return spent

    def community_reviews(self, round_: int) -> None:
        reviewers = list(self.people["reviewers"])
        draw(self.s.seed, "order", round_).shuffle(reviewers)
        for person in reviewers:
            self.result.reviewer_hours += self._review(
                person, person.hours, REVIEW_HOURS[person.kind], maintainer=False
            )

    def maintainer_reviews(self, round_: int, hours: dict[str, float]) -> None:
        for person in self.people["maintainers"]:
            self.result.maintainer_hours += self._review(
                person, hours[person.name], REVIEW_HOURS["maintainer"], maintainer=True
            )

    def ring_votes(self) -> None:
        """Every ring account approves the ring's own change; and the attacker copies each
        maintainer approval with a few accounts (taking turns), to farm the trust forge gives
        those who agreed with a merge."""
        ring = self.people["ring"]
        if not ring:
            return
        maintainers = {p.id for p in self.people["maintainers"]}
        turn = 0
        for proposal in list(self.open):
            if proposal.attack:
                voters = [p for p in ring[1:] if p.id not in proposal.votes]
            elif any(v > 0 for pid, v in proposal.votes.items() if pid in maintainers):
                voters = []
                for _ in range(min(self.s.ring_copy_votes, len(ring))):
                    person = ring[turn % len(ring)]
                    turn += 1
                    if person.id not in proposal.votes and person is not proposal.author:
                        voters.append(person)
            else:
                continue
            for person in voters:
                self.world.vote(person, proposal, True, person.id in self.deciders)

    # --- deciding ----------------------------------------------------------------------------

    def decide(self, round_: int) -> None:
        if self.inference is not None:
            self.inference.fit(self.world.code_review_votes())
        for proposal in list(self.open):
            verdict, who = self.verdict(proposal, round_)
            if verdict == "land":
                self.world.land(proposal, who)
                proposal.landed = round_
                self.landed.append(proposal)
                self.open.remove(proposal)
            elif verdict == "close":
                self.world.close(proposal, who)
                proposal.closed = round_
                self.open.remove(proposal)

    def verdict(self, proposal: Proposal, round_: int):
        """("land", deciding user), ("close", closing person or None for the author), or
        (None, None) to wait."""
        if not proposal.ci_passes:
            return "close", None
        maintainers = {p.id: p for p in self.people["maintainers"]}
        if self.gate in FORGE_GATES:
            status = self.world.submit_status(proposal)
            if status.ready:
                return "land", self.world.decider(proposal)
            vetoers = [pid for pid, v in proposal.votes.items() if v == -2 and pid in maintainers]
            if vetoers:
                return "close", maintainers[vetoers[0]]
        elif self.gate == "maintainer":
            mine = [(pid, v) for pid, v in proposal.votes.items() if pid in maintainers]
            if mine and mine[0][1] > 0:
                return "land", self.world.users[mine[0][0]]
            if mine:
                return "close", maintainers[mine[0][0]]
        else:
            values = [v for pid, v in proposal.votes.items() if pid != proposal.author.id]
            if len(values) >= MIN_VOTES:
                if self.gate == "majority":
                    good = sum(v > 0 for v in values) > len(values) / 2
                else:
                    good = self.inference.good(proposal.change_id)
                if good:
                    return "land", self._approver(proposal)
                return "close", None
        if round_ - proposal.opened >= self.s.max_age:
            return "close", None
        return None, None

    def _approver(self, proposal: Proposal):
        """Who merged under a gate without forge's notion of a decider: a maintainer who
        approved, else the first approver."""
        maintainers = {p.id for p in self.people["maintainers"]}
        approvers = [pid for pid, v in proposal.votes.items() if v > 0]
        chosen = next((pid for pid in approvers if pid in maintainers), approvers[0])
        return self.world.users[chosen]

    def close_audits(self, round_: int) -> None:
        """An audit has done its work after two rounds; its maintainer closes it."""
        for proposal in list(self.audits):
            if round_ - proposal.opened >= 2:
                self.world.close(proposal, proposal.author)
                proposal.closed = round_
                self.audits.remove(proposal)

    def reverts(self, round_: int) -> None:
        for proposal in self.landed:
            in_window = proposal.reverted is None and round_ - proposal.landed <= REVERT_WINDOW
            if in_window and found_in_production(self.s.seed, proposal, round_):
                self.world.revert(proposal)
                proposal.reverted = round_
                self.result.reverted += 1

    # --- measuring ---------------------------------------------------------------------------

    def observe(self) -> None:
        ring = self.people["ring"]
        if ring:
            weights = self.world.weights(ring)
            held = sum(weights.values())
            self.result.ring_weight = max(self.result.ring_weight, held)
            over = held - self.world.trust_into(ring)
            self.result.ring_over_bound = max(self.result.ring_over_bound, over)
            self.result.ring_member_weight = max(self.result.ring_member_weight,
                                                 max(weights.values()))  # fmt: skip
        careless = [p for p in self.people["reviewers"] if p.kind == "careless"]
        weights = self.world.weights(careless)
        for person in careless:
            answered = sum(1 for a in self.all if a.audit and person.id in a.votes)
            self.careless_history.setdefault(person.name, []).append(
                (answered, weights[person.name])
            )

    def summarise(self) -> None:
        r = self.result
        for proposal in self.landed:
            r.landed[proposal.truth] = r.landed.get(proposal.truth, 0) + 1
            r.attack_landed += proposal.attack
        good = [p.landed - p.opened for p in self.landed if p.truth == GOOD]
        r.good_latency = sum(good) / len(good) if good else 0.0
        for history in self.careless_history.values():
            r.careless_peak = max(r.careless_peak, max(w for _a, w in history))
            r.careless_spotted_after.append(spotted_after(history))
        strikes = self.world.strikes()
        r.careless_strikes = [strikes.get(p.id, 0) for p in self.people["reviewers"]
                              if p.kind == "careless"]  # fmt: skip
        finals = [h[-1][1] for h in self.careless_history.values()]
        r.careless_final = max(finals) if finals else 0.0
        diligent = [p for p in self.people["reviewers"] if p.kind == "diligent"]
        weights = self.world.weights(diligent)
        r.diligent_final = sum(weights.values()) / len(weights) if weights else 0.0


def spotted_after(history: list[tuple[int, float]]) -> int | None:
    """How many audits the reviewer had answered when their weight fell to (about) nothing
    for good: the first round from which it stays at or under SPOTTED to the end. None when
    it ends above."""
    if not history or history[-1][1] > SPOTTED:
        return None
    at = len(history) - 1
    while at > 0 and history[at - 1][1] <= SPOTTED:
        at -= 1
    return history[at][0]
