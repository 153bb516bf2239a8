"""Last.fm listeners, read through the generic log reader: plays, no ratings, no times.

`scenarios/data/lastfm-2k.yaml` maps HetRec 2011 Last.fm 2K (under
``SIMFOLK_DATA``) onto simfolk's reader: who played which artist how often.
It is *implicit* feedback and has *no times*, so:

- the split holds out a fixed-hash 20 % of each listener's artists (no times
  to split by; the same rows every run);
- personas' taste and style come from log(1 + plays), never from invented
  ratings; a click is followed by a `consume` event saying how many times,
  drawn from the count model calibration fits on train;
- visits keep their priors (one session a day, about three artists), which the
  log cannot tell, and `compare` leaves the visit rows out.

Run it:  python scenarios/lastfm_plays.py
    or:  simfolk run scenarios/lastfm_plays.py --personas 100 --days 3 --out runs/lastfm
Then:    simfolk compare runs/lastfm      (plays_log, item_gini, top-10 share, coverage)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator import RunConfig, simulate
from simulator.domains.recsys.run import RunResult

MAPPING = Path(__file__).parent / "data" / "lastfm-2k.yaml"

CONFIG = RunConfig(
    scenario="lastfm_plays",
    dataset=str(MAPPING),
    personas=100,
    days=3,
    seed=0,
    target="als",  # implicit's ALS: made for play counts
    refit_every_days=1.0,
)


def run(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """Listeners built from Last.fm users play what `config.target` puts in front of them."""
    return simulate(config, out, **options)


def main() -> None:
    """Run with the defaults into runs/lastfm_plays and print where the trace went."""
    result = run(CONFIG, Path("runs") / "lastfm_plays")
    print(f"{result.events} events in {result.run_dir}")
    print(f"compare with: simfolk compare {result.run_dir}")


if __name__ == "__main__":
    main()
