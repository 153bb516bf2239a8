"""`simfolk bench search`: simulated searchers against the real TREC 2013 sessions.

The sessions' topics are split in two halves by a keyed draw, so no held-out
need was seen in fitting. The searcher (`simulator.domains.search.model`) is
fitted on the first half; every session of the second half is lived again
`replicates` times on its need, against the engine under test over the
collection of every document the real sessions were shown. The table is the
split-half comparison of `analysis.search_compare`, and the per-step tasks are
scored on the real held-out sessions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from analysis.search_compare import compare_sessions, step_tasks
from analysis.search_export import export_sessions
from personas.datasets.trec import load_trec_sessions, write_trec_sessions
from simulator.core.rng import Streams
from simulator.domains.search.collection import Collection
from simulator.domains.search.engines.spec import make_engine
from simulator.domains.search.model import fit_searcher
from simulator.domains.search.population import split_topics
from simulator.domains.search.searcher import simulate_session

NAME = "trec-session-2013"
# USimAgent (Zhang et al., 2024), its per-step tasks on its own sessions.
USIMAGENT = {"click_accuracy": 0.689, "click_f1": 0.478, "stop_accuracy": 0.603}


def bench_search(
    sessions: str = NAME,
    *,
    engine: str = "bm25",
    replicates: int = 3,
    seed: int = 0,
    export: str | Path | None = None,
) -> dict[str, Any]:
    """Fit on half the topics, simulate the other half's needs, compare; plain data.

    With `export`, the simulated sessions are also written there as a dataset
    (`sessions.parquet`, `sessions.jsonl`: `analysis.search_export`) and as
    TREC XML (`sessions.xml`).
    """
    if replicates < 1:
        raise ValueError(f"--replicates must be at least 1, got {replicates}")
    started = time.perf_counter()
    log = load_trec_sessions(sessions)
    streams = Streams(seed)
    split = split_topics(log, streams)
    fit, heldout = list(split.fit), list(split.heldout)
    topics = {s.topic for s in log.sessions}
    model = fit_searcher(fit)
    collection = Collection.from_sessions(log)
    target = make_engine(engine, collection, streams)
    sim_started = time.perf_counter()
    simulated = [
        simulate_session(
            model,
            f"{s.id}-{r}",
            s.topic,
            s.need,
            target,
            streams.generator(f"{s.id}-{r}", "search"),
        )
        for s in heldout
        for r in range(replicates)
    ]
    sim_seconds = time.perf_counter() - sim_started
    rows = compare_sessions(simulated, heldout, seed=seed)
    exported = {}
    if export is not None:
        exported = {k: str(v) for k, v in export_sessions(simulated, export).items()}
        exported["sessions.xml"] = str(
            write_trec_sessions(simulated, Path(export) / "sessions.xml")
        )
    return {
        "sessions": str(log.path),
        "engine": engine,
        "seed": seed,
        "fitted_sessions": len(fit),
        "heldout_sessions": len(heldout),
        "topics": {
            "fitted": len(split.fitted_topics),
            "heldout": len(topics) - len(split.fitted_topics),
        },
        "documents": len(collection),
        "simulated_sessions": len(simulated),
        "rows": [row.as_dict() for row in rows],
        # Real people on the fitted topics against the held-out ones: how far another
        # set of real sessions is, where the simulated ones are read against.
        "fitted_half_rows": [row.as_dict() for row in compare_sessions(fit, heldout, seed=seed)],
        "step_tasks": step_tasks(model, fit, heldout).as_dict(),
        "usimagent_published": USIMAGENT,
        "model": model.model_dump(),
        "exported": exported,
        "seconds": {"total": time.perf_counter() - started, "simulation": sim_seconds},
    }
