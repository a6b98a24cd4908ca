"""Run the crowd simulation's sweeps and write their tables and plots.

    python -m bench.crowd [--seed 1] [--small] [--jobs 2] [--label NAME] [--readme]

Prints markdown tables; with --readme also puts them into bench/README.md between the
`<!-- crowd:NAME -->` and `<!-- /crowd:NAME -->` markers, and draws the PNGs
bench/crowd-NAME-bad-vs-hours.png and bench/crowd-NAME-sybil-weight.png (matplotlib, the
`bench` extra). Reproducible: the same seed and the same forge give the same tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from .community import BAD_CI, BAD_SUBTLE, GOOD, Scenario
from .simulate import GATES, Result, run

BENCH = Path(__file__).resolve().parents[1]
HOURS_GATES = tuple(gate for gate in GATES if gate != "glad")
SWEEP_GATES = ("forge-default", "forge-community", "majority", "dawid-skene")
RING_GATES = ("forge-default", "forge-community", "majority")


def plan(seed: int, small: bool) -> dict:
    base = Scenario(seed=seed, rounds=8 if small else 16, maintainer_hours=0.5, ring_size=10,
                    careless_share=0.25, hostile_share=0.125)  # fmt: skip
    return {
        "base": base,
        "hours": (0.25, 1.0) if small else (0.25, 1.0, 2.0),
        "crowds": ((0.0, 0.0), (0.5, 0.125)) if small else
                  ((0.0, 0.0), (0.5, 0.125), (0.25, 0.375)),
        "rings": (1, 10, 100) if small else (1, 10, 100, 1000),
        "ring_rounds": 6 if small else 9,
    }  # fmt: skip


def timed(job: tuple[Scenario, str]) -> Result:
    scenario, gate = job
    started = time.monotonic()
    result = run(scenario, gate)
    print(f"  {gate:16} {scenario.label():55} {time.monotonic() - started:6.1f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return result


def spotted(result: Result) -> str:
    found = [n for n in result.careless_spotted_after if n is not None]
    total = len(result.careless_spotted_after)
    if not total or result.gate not in ("forge-default", "forge-community"):
        return "n/a"
    worst = f", within {max(found)} audits" if found else ""
    return f"{len(found)}/{total}{worst}"


def main_table(results: list[Result]) -> str:
    lines = [
        "| gate | bad landed (CI-kind / review-only / ring's) | good landed | good latency "
        "(rounds) | reverted | reviewer h | maintainer h | audits | ring weight (sum / one "
        "account) | careless spotted | careless peak / final weight | diligent weight |",
        "|" + "---|" * 12,
    ]
    for r in results:
        proposed_good = r.proposed.get(GOOD, 0)
        lines.append(
            f"| {r.gate} | **{r.bad_landed}** ({r.landed.get(BAD_CI, 0)} / "
            f"{r.landed.get(BAD_SUBTLE, 0)} / {r.attack_landed}) | {r.landed.get(GOOD, 0)} of "
            f"{proposed_good} | {r.good_latency:.2f} | {r.reverted} | {r.reviewer_hours:.0f} | "
            f"{r.maintainer_hours:.1f} | {r.audits} | {r.ring_weight:.2f} / "
            f"{r.ring_member_weight:.2f} | {spotted(r)} | {r.careless_peak:.2f} / "
            f"{r.careless_final:.2f} | {r.diligent_final:.2f} |"
        )
    return "\n".join(lines)


def sweep_table(title: str, keys: list[str], rows: dict[str, dict[str, Result]], gates) -> str:
    lines = [f"| {title} | " + " | ".join(gates) + " |", "|" + "---|" * (len(gates) + 1)]
    for key in keys:
        cells = []
        for gate in gates:
            r = rows[key].get(gate)
            cells.append("" if r is None else f"{r.bad_landed} ({r.landed.get(GOOD, 0)} good)")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ring_table(sizes, rows: dict[int, dict[str, Result]]) -> str:
    lines = [
        "| ring accounts | " + " | ".join(f"{g}: ring weight sum / one account / ring's "
                                          "changes landed" for g in RING_GATES) + " |",
        "|" + "---|" * (len(RING_GATES) + 1),
    ]  # fmt: skip
    for size in sizes:
        cells = [f"{r.ring_weight:.2f} / {r.ring_member_weight:.3f} / {r.attack_landed}"
                 for r in (rows[size][g] for g in RING_GATES)]  # fmt: skip
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(label: str, hours, by_hours: dict[float, dict[str, Result]], sizes, rings) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for gate in GATES:
        points = [(h * 2, by_hours[h][gate].bad_landed) for h in hours if gate in by_hours[h]]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=gate)
    axes.set_xlabel("maintainer hours per day (both maintainers)")
    axes.set_ylabel("bad changes landed")
    axes.set_title(f"Bad changes landed against maintainer time ({label})")
    axes.legend()
    axes.grid(alpha=0.3)
    made.append(BENCH / f"crowd-{label}-bad-vs-hours.png")
    figure.savefig(made[-1], dpi=100, bbox_inches="tight")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for gate in RING_GATES:
        axes.plot(sizes, [rings[s][gate].ring_weight for s in sizes], marker="o",
                  label=f"{gate}: the ring together")  # fmt: skip
    axes.plot(sizes, [rings[s]["forge-default"].ring_member_weight for s in sizes], marker="x",
              linestyle="--", label="forge-default: its heaviest account")  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("sybil ring accounts")
    axes.set_ylabel("trust weight in the project")
    axes.set_title(f"What a sybil ring weighs as it grows ({label})")
    axes.legend()
    axes.grid(alpha=0.3)
    made.append(BENCH / f"crowd-{label}-sybil-weight.png")
    figure.savefig(made[-1], dpi=100, bbox_inches="tight")
    return made


def write_readme(label: str, text: str) -> None:
    readme = BENCH / "README.md"
    content = readme.read_text()
    begin, end = f"<!-- crowd:{label} -->", f"<!-- /crowd:{label} -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in content and end in content:
        head, rest = content.split(begin, 1)
        content = head + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="fewer rounds and sweep points")
    parser.add_argument("--label", default="run", help="names the README block and the plots")
    parser.add_argument("--readme", action="store_true", help="write into bench/README.md")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (processes)")
    args = parser.parse_args()
    started = time.monotonic()
    p = plan(args.seed, args.small)
    base = p["base"]
    print(f"base: {base}", file=sys.stderr)
    jobs = [(base, gate) for gate in GATES]
    # GLAD takes minutes a run (its gradient steps in pure Python): the base point only.
    jobs += [(replace(base, maintainer_hours=h), gate) for h in p["hours"] for gate in HOURS_GATES]
    jobs += [(replace(base, careless_share=c, hostile_share=h), gate)
             for c, h in p["crowds"] for gate in SWEEP_GATES]  # fmt: skip
    jobs += [(replace(base, ring_size=size, rounds=p["ring_rounds"]), gate)
             for size in p["rings"] for gate in RING_GATES]  # fmt: skip
    # The slowest first, so the last to finish is not a long one started late.
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].ring_size * jobs[i][0].rounds)
    with ProcessPoolExecutor(args.jobs) as pool:
        done = dict(zip(order, pool.map(timed, [jobs[i] for i in order]), strict=True))
    results = {jobs[i]: done[i] for i in done}
    at_base = {gate: results[(base, gate)] for gate in GATES}
    by_hours = {base.maintainer_hours: at_base}
    for h in p["hours"]:
        by_hours[h] = {
            gate: results[(replace(base, maintainer_hours=h), gate)] for gate in HOURS_GATES
        }
    crowds = {
        f"careless {c:.0%}, hostile {h:.0%}": {
            gate: results[(replace(base, careless_share=c, hostile_share=h), gate)]
            for gate in SWEEP_GATES
        }
        for c, h in p["crowds"]
    }
    rings = {
        size: {
            gate: results[(replace(base, ring_size=size, rounds=p["ring_rounds"]), gate)]
            for gate in RING_GATES
        }
        for size in p["rings"]
    }
    hours = sorted(by_hours)
    command = f"python -m bench.crowd --seed {args.seed}" + (" --small" if args.small else "")
    text = "\n\n".join(
        [
            f"`{command}` ({time.monotonic() - started:.0f} s). Base stream: {base.rounds} "
            f"rounds, {base.authors} authors, {base.reviewers} reviewers "
            f"({base.careless_share:.0%} careless, {base.hostile_share:.0%} hostile), "
            f"{base.maintainers} maintainers with {base.maintainer_hours:g} h a day each, a "
            f"sybil ring of {base.ring_size}.",
            main_table([at_base[g] for g in GATES]),
            "Bad changes landed (good ones landed) by maintainer hours a day, each:",
            sweep_table(
                "maintainer h",
                [f"{h:g}" for h in hours],
                {f"{h:g}": by_hours[h] for h in hours},
                GATES,
            ),  # fmt: skip
            "By the share of careless and hostile reviewers:",
            sweep_table("reviewers", list(crowds), crowds, SWEEP_GATES),
            f"By sybil ring size ({p['ring_rounds']} rounds):",
            ring_table(p["rings"], rings),
        ]
    )
    print(text)
    if args.readme:
        for path in plot(args.label, hours, by_hours, p["rings"], rings):
            print(f"wrote {path}", file=sys.stderr)
        write_readme(args.label, text)


if __name__ == "__main__":
    main()
