"""MovieLens users use a recommender for a simulated week.

Run it:  python scenarios/movielens_week.py            (defaults below)
    or:  simfolk run scenarios/movielens_week.py --dataset ml-100k --personas 943 --days 7
Then:    simfolk compare runs/movielens_week
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator import RunConfig, simulate
from simulator.domains.recsys.run import RunResult

CONFIG = RunConfig(
    scenario="movielens_week",
    dataset="ml-latest-small",
    personas=100,
    days=7,
    seed=0,
    target="itemknn",
    refit_every_days=1.0,
)


def run(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """Personas built from the dataset's users browse `config.target` for `config.days` days."""
    return simulate(config, out, **options)


def main() -> None:
    """Run with the defaults into runs/movielens_week and print where the trace went."""
    result = run(CONFIG, Path("runs") / "movielens_week")
    print(f"{result.events} events in {result.run_dir}")
    print(f"compare with: simfolk compare {result.run_dir}")


if __name__ == "__main__":
    main()
