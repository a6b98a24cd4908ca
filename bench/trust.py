"""Benchmark: what the trust flow (forge.accounts.trust) costs as a repository's history grows.

Every change page, vote and merge computes the earned trust of a repository's people once per
transaction: a maximum flow from the repository's maintainers along its trust edges. This
builds random histories (people, decision edges of the sizes forge records, a few seeds), a
quarter of the people forming a sybil ring whose members give each other full trust, and
times `trust._flow` on them, median of --runs. It also checks the bound the flow promises:
what the ring holds together never exceeds the edges into it from outside.

    python bench/trust.py [--runs 5] [--seed 1]

No reference tool computes forge's metric, so the table reports time per edge (the flow runs
in pure Python). Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from forge.accounts import trust
from forge.config import ReputationRules

SIZES = ((200, 1_000, 5), (2_000, 10_000, 10), (5_000, 30_000, 20), (20_000, 100_000, 40))
AMOUNTS = (0.25, 0.1, 0.05, 0.02)  # a merge, an agreement share, audits


def history(people: int, edges: int, seeds: int, rng: random.Random):
    ring = set(range(people - people // 4, people))
    rows = []
    for _ in range(edges):
        truster, trustee = rng.randrange(people), rng.randrange(people)
        if trustee in ring and truster not in ring and rng.random() > 0.05:
            trustee = rng.randrange(people - people // 4)  # few honest decisions reach the ring
        amount = 1.0 if truster in ring and trustee in ring else rng.choice(AMOUNTS)
        rows.append((truster, trustee, "merged", amount))
    return rows, set(range(seeds)), ring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rules = ReputationRules()
    print(f"{'people':>7} {'edges':>8} {'seeds':>5} {'median s':>9} {'us/edge':>8} "
          f"{'trusted':>8} {'ring holds':>10} {'edges into ring':>15}")  # fmt: skip
    for people, edges, seeds in SIZES:
        rng = random.Random(args.seed)
        rows, seed_ids, ring = history(people, edges, seeds, rng)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            earned = trust._flow(rows, seed_ids, set(), rules)
            times.append(time.perf_counter() - started)
        held = sum(t for person, t in earned.trust.items() if person in ring)
        into = sum(a for f, t, _k, a in rows if t in ring and f not in ring)
        assert held <= into + 1e-6, (held, into)
        median = statistics.median(times)
        print(f"{people:>7} {edges:>8} {seeds:>5} {median:>9.3f} {median / edges * 1e6:>8.1f} "
              f"{len(earned.trust):>8} {held:>10.2f} {into:>15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
