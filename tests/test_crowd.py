"""The crowd gate against a simulated community (bench/crowd), small enough to run in seconds:
forge's own services on a real SQLite database decide every vote, weight and merge. What a
user of the gate relies on: however many accounts one attacker makes, together they weigh no
more than honest people gave them and land none of their changes through forge's gates; and
a reviewer who approves everything loses their weight within a few audits.

No crowd-kit and no matplotlib here: only the forge gates and the plain majority run.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for bench/

from bench.crowd.community import GOOD, Person, Proposal, Scenario  # noqa: E402
from bench.crowd.simulate import AUDITS_TO_SPOT, run  # noqa: E402
from bench.crowd.world import opened_world  # noqa: E402
from forge.config import ReputationRules  # noqa: E402

SMALL = Scenario(seed=7, rounds=5, authors=4, reviewers=4, careless_share=0.25,
                 hostile_share=0.0, maintainer_hours=0.5, ring_copy_votes=4)  # fmt: skip


def test_a_sybil_rings_weight_stays_bounded_as_it_grows():
    weights = {}
    for size in (1, 8, 40):
        result = run(replace(SMALL, ring_size=size), "forge-default")
        # Never more than the trust honest people's decisions gave the ring's accounts.
        assert result.ring_over_bound <= 1e-6, (size, result.ring_over_bound)
        # Not one account becomes an approver, and the ring's own change never lands.
        assert result.ring_member_weight < 1.0
        assert result.attack_landed == 0
        weights[size] = result.ring_weight
    # Forty accounts weigh no more than the eight did plus what one account alone could farm.
    assert weights[40] <= weights[8] + weights[1] + 1e-6, weights


@pytest.mark.parametrize("gate", ["forge-default", "forge-community"])
def test_a_pure_sybil_ring_lands_no_bad_change(gate):
    """Only the maintainers and the ring: no honest reviewer to outvote it."""
    pure = replace(SMALL, reviewers=0, ring_size=12, ring_attack_every=2)
    result = run(pure, gate)
    assert result.proposed.get("bad-subtle", 0) >= 2  # the ring did try
    assert result.attack_landed == 0


def test_the_same_ring_wins_a_plain_majority():
    """The attack is a real one: counting accounts, it lands the ring's changes."""
    pure = replace(SMALL, reviewers=0, ring_size=12, ring_attack_every=2)
    assert run(pure, "majority").attack_landed >= 1


def test_careless_reviewers_lose_their_weight_within_the_audits_the_table_states():
    careless = replace(SMALL, seed=13, rounds=8, reviewers=4, careless_share=0.5)
    result = run(careless, "forge-default")
    assert result.audits >= 6
    spotted = [n for n in result.careless_spotted_after if n is not None]
    assert spotted and max(spotted) <= AUDITS_TO_SPOT, result.careless_spotted_after
    # Every one with two strikes (wrong answers not made up for by catching a known-bad
    # audit) weighs nothing, whoever gave them trust; one who by luck caught as many
    # known-bad audits as they missed keeps what agreeing with merges gave them.
    rules = ReputationRules()
    for strikes, after in zip(result.careless_strikes, result.careless_spotted_after,
                              strict=True):  # fmt: skip
        if strikes * rules.trust_audit_failed >= rules.max_earned_trust:
            assert after is not None, (result.careless_strikes, result.careless_spotted_after)
    assert max(result.careless_strikes) >= 2
    # The audits do not take the diligent reviewers' weight with them.
    assert result.diligent_final > 0.1


def test_an_approval_copied_after_the_maintainers_plus_two_earns_no_trust():
    """What a ring farmed with before: agreeing with a decision already made. The reviewer
    who judged before the maintainer shares the agreement; the copy after it gets nothing."""
    maya, author = Person("maya", "maintainer"), Person("dan", "author")
    early, copier = Person("erin", "diligent"), Person("sock", "sybil")
    with opened_world(seed=1, community_quorum=False) as world:
        world.add_people([maya, author, early, copier])
        world.make_project([maya])
        change = Proposal(1, author, GOOD, ci_passes=True, opened=0)
        world.open(change)
        world.vote(early, change, True, decides=False)
        world.vote(maya, change, True, decides=True)
        world.vote(copier, change, True, decides=False)
        assert world.submit_status(change).ready
        world.land(change, world.decider(change))
        weights = world.weights([early, copier, author])
    rules = ReputationRules()
    assert weights == {"erin": rules.trust_agreed, "sock": 0.0, "dan": rules.trust_merged}
