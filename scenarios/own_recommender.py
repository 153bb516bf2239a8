"""Your own recommender, in process: a class written here, used as the system under test.

`RecentHits` is what a team's first recommender often is: the catalogue's most
consumed items, with a boost for what was consumed lately, minus what the user
has seen. Any class with the same methods works (`simulator.domains.recsys.
interfaces.Recommender`); so does `--target mypkg.recs:MyClass` on the command line.

Run it:  python scenarios/own_recommender.py
    or:  simfolk run scenarios/own_recommender.py --personas 50 --days 3
Then:    simfolk compare runs/own_recommender
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from simulator import RunConfig, simulate
from simulator.domains.recsys.run import RunResult

CONFIG = RunConfig(
    scenario="own_recommender",
    dataset="ml-latest-small",
    personas=100,
    days=7,
    seed=0,
    target="popularity",  # recorded in the config; the run uses RecentHits below
    refit_every_days=1.0,
)


class RecentHits:
    """Most consumed items, recent consumption counting double; never what the user has had."""

    name = "recent-hits"

    def __init__(self, catalog: Any, streams: Any) -> None:
        self.items = np.asarray(catalog.item_ids)
        self.scores = np.zeros(len(self.items))
        self.seen: dict[str, set[int]] = {}

    def fit(self, interactions: pl.DataFrame) -> None:
        """Count consumptions; the last tenth of the log in time counts twice."""
        recent = interactions["t"] >= interactions["t"].quantile(0.9)
        weights = np.where(recent.to_numpy(), 2.0, 1.0)
        rows = np.searchsorted(self.items, interactions["item_id"].to_numpy())
        self.scores = np.bincount(rows, weights=weights, minlength=len(self.items))
        self.seen = {}
        for user, item in interactions.select("user", "item_id").iter_rows():
            self.seen.setdefault(user, set()).add(item)

    def recommend(self, user: str, k: int, context: Any) -> list[int]:
        """The k best-scoring items the user has not had nor seen this session."""
        blocked = self.seen.get(user, set()) | context.exclude
        order = np.lexsort((self.items, -self.scores))  # ties by item id: reproducible
        return [int(i) for i in self.items[order] if int(i) not in blocked][:k]

    def feedback(self, event: Any) -> None:
        """A click or rating: the user has had the item."""
        self.seen.setdefault(event.user, set()).add(event.item_id)

    def get_state(self) -> dict[str, Any]:
        """Plain data for checkpoints (resume continues exactly)."""
        return {"scores": self.scores, "seen": {u: sorted(s) for u, s in self.seen.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`."""
        self.scores = state["scores"]
        self.seen = {u: set(items) for u, items in state["seen"].items()}


def run(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """Personas browse RecentHits for `config.days` days."""
    return simulate(config, out, target=RecentHits, **options)


def main() -> None:
    """Run with the defaults into runs/own_recommender."""
    result = run(CONFIG, Path("runs") / "own_recommender")
    print(f"{result.events} events in {result.run_dir}")


if __name__ == "__main__":
    main()
