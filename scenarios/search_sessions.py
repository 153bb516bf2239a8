"""People with an information need use a search engine, as TREC 2013's searchers did.

The TREC Session Track 2013 sessions' topics are split in two by a keyed draw.
The searcher — how it words a query from its need, reads a page top-down,
clicks, reads a document, reformulates and stops — is fitted on the first
half; each persona carries the need of a session of the second half and lives
one session against the engine (BM25 over every document the real sessions
were shown, unless --target names another).

Run it:  python scenarios/search_sessions.py            (defaults below)
    or:  simfolk run scenarios/search_sessions.py --target bm25-minilm --personas 130
Then:    simfolk compare runs/search_sessions      (against the held-out sessions)
         simfolk export sessions runs/search_sessions --out sessions.parquet
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.domains.search.config import SearchConfig
from simulator.domains.search.run import SearchRunResult, simulate_search

CONFIG = SearchConfig(scenario="search_sessions", dataset="trec-session-2013", engine="bm25")


def run(config: SearchConfig, out: str | Path, **options: Any) -> SearchRunResult:
    """Every searcher lives one session against `config.engine`."""
    return simulate_search(config, out, **options)


def main() -> None:
    """Run with the defaults into runs/search_sessions and print where the trace went."""
    result = run(CONFIG, Path("runs") / "search_sessions")
    print(f"{result.sessions} sessions, {result.events} events in {result.run_dir}")
    print(f"compare with: simfolk compare {result.run_dir}")


if __name__ == "__main__":
    main()
