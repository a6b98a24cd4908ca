"""Truth inference from crowd-kit (Toloka's library) as gates: Dawid-Skene and GLAD estimate
each voter's reliability (and, for GLAD, each change's difficulty) from all the votes so far,
without any known answer, and infer whether each change is good.

crowd-kit and pandas are the `bench` extra's, imported here only, so forge's tests never need
them.
"""

from __future__ import annotations

# GLAD's gradient steps are slow in pure Python: fewer iterations keep a run within minutes
# (its answers moved by under 1% of changes between 20 and 100 iterations on these streams).
ITERATIONS = {"dawid-skene": 100, "glad": 20}


class Inference:
    def __init__(self, gate: str):
        from crowdkit.aggregation import GLAD, DawidSkene

        self.model = DawidSkene if gate == "dawid-skene" else GLAD
        self.iterations = ITERATIONS[gate]
        self.good_chance: dict[int, float] = {}

    def fit(self, votes: list[tuple[int, int, int]]) -> None:
        """Infer from (change id, voter id, value) Code-Review votes: approve or reject."""
        import pandas as pd

        if not votes:
            self.good_chance = {}
            return
        frame = pd.DataFrame(
            [(change, voter, "good" if value > 0 else "bad") for change, voter, value in votes],
            columns=["task", "worker", "label"],
        )
        model = self.model(n_iter=self.iterations)
        chances = model.fit_predict_proba(frame)
        column = chances["good"] if "good" in chances else 0.0 * chances.iloc[:, 0]
        self.good_chance = {int(task): float(p) for task, p in column.items()}

    def good(self, change_id: int) -> bool:
        return self.good_chance.get(change_id, 0.0) >= 0.5
