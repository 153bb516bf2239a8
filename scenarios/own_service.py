"""Your own recommender as a service: a run against it over HTTP, on loopback.

This starts the reference service (`simfolk serve recommender --target itemknn`)
in its own process, runs the personas against `http://127.0.0.1:PORT`, and stops
it. Against your service, skip the first step and give its URL:
`simfolk run scenarios/movielens_week.py --target http://HOST:PORT`. The protocol
is `simfolk-recommender/1` (README, "Bring your own recommender").

Run it:  python scenarios/own_service.py
Then:    simfolk compare runs/own_service
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from simulator import RunConfig, simulate
from simulator.domains.recsys.run import RunResult
from simulator.experiments.service import start_service

SERVED = "itemknn"  # what the service serves: a registered name or MODULE:ATTR

CONFIG = RunConfig(
    scenario="own_service",
    dataset="ml-latest-small",
    personas=100,
    days=3,
    seed=0,
    target=SERVED,  # replaced by the service's URL once it listens
    refit_every_days=1.0,
)


def run(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """Serve SERVED for the run's dataset and seed, and run the personas against it."""
    with tempfile.TemporaryDirectory(prefix="simfolk-service-") as tmp:
        process, url = start_service(SERVED, config.seed, Path(tmp) / "log.txt", config.dataset)
        try:
            return simulate(config.model_copy(update={"target": url}), out, **options)
        finally:
            process.kill()
            process.wait()


def main() -> None:
    """Run with the defaults into runs/own_service."""
    result = run(CONFIG, Path("runs") / "own_service")
    print(f"{result.events} events in {result.run_dir}")


if __name__ == "__main__":
    main()
