"""An offline A/B test of two search engines on TREC 2013's held-out needs.

BM25 alone against BM25 re-ranked with MiniLM title embeddings, over every
document the real sessions were shown. Each searcher carries the need of a
held-out session and lives it once per engine, with the same keyed draws, so
the differences come from the engines' pages.

Run it:  python scenarios/ab_search_engines.py
    or:  simfolk ab scenarios/ab_search_engines.py --personas 195 --out runs/ab_search
Then:    simfolk report runs/ab_search_engines
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.core.abrun import ABRun
from simulator.domains.search.ab import simulate_search_ab
from simulator.domains.search.config import SearchConfig

CONFIG = SearchConfig(scenario="ab_search_engines", dataset="trec-session-2013", personas=195)
ARMS = {"bm25": "bm25", "bm25-minilm": "bm25-minilm"}
CONTROL = "bm25"


def run(config: SearchConfig, out: str | Path, **options: Any) -> ABRun:
    """Every arm of ARMS (or `arms=`) on the same searchers, against CONTROL."""
    arms = options.pop("arms", ARMS)
    control = options.pop("control", CONTROL if CONTROL in arms else None)
    return simulate_search_ab(config, arms, out, control=control, **options)


def main() -> None:
    """Run with the defaults into runs/ab_search_engines and say where the report goes."""
    result = run(CONFIG, Path("runs") / "ab_search_engines")
    print(f"{len(result.arms)} arms, {result.events} events in {result.run_dir}")
    print(f"report: simfolk report {result.run_dir}")


if __name__ == "__main__":
    main()
