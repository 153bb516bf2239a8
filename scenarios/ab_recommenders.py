"""An offline A/B test on MovieLens-100K: popularity against five collaborative filters.

The arms come from three places: simfolk's own item-kNN, `implicit`'s ALS, BPR
and LMF, and cornac's biased matrix factorisation (`cornac-mf`; install the
`cornac` extra, or drop that arm with `--arm`).

All 943 users become personas; every arm gets the same personas and the same
random streams, so the differences come from the recommenders.

Run it:  python scenarios/ab_recommenders.py
    or:  simfolk ab scenarios/ab_recommenders.py --days 7 --out runs/ab
Then:    simfolk report runs/ab_recommenders --out report.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator import RunConfig
from simulator.core.abrun import ABRun
from simulator.domains.recsys.ab import simulate_ab

CONFIG = RunConfig(
    scenario="ab_recommenders",
    dataset="ml-100k",
    personas=943,
    days=7,
    seed=0,
    target="popularity",
    refit_every_days=1.0,
)
ARMS = {
    "popularity": "popularity",
    "itemknn": "itemknn",
    "als": "als",
    "bpr": "bpr",
    "lmf": "lmf",
    "cornac-mf": "cornac-mf",
}
CONTROL = "popularity"


def run(config: RunConfig, out: str | Path, **options: Any) -> ABRun:
    """Every arm of ARMS (or `arms=`) on the same personas, against CONTROL."""
    arms = options.pop("arms", ARMS)
    control = options.pop("control", CONTROL if CONTROL in arms else None)
    return simulate_ab(config, arms, out, control=control, **options)


def main() -> None:
    """Run with the defaults into runs/ab_recommenders and say where the report goes."""
    result = run(CONFIG, Path("runs") / "ab_recommenders")
    print(f"{len(result.arms)} arms, {result.events} events in {result.run_dir}")
    print(f"report: simfolk report {result.run_dir}")


if __name__ == "__main__":
    main()
