"""Run a search simulation end to end: real sessions -> fitted searcher -> sessions -> trace.

A search run directory holds `manifest.json` (kind "search"), `searchers.json`
(who searched for what), `searcher_model.json` (the model fitted on the
sessions of half the topics), `events/part-*.parquet`, `timeseries.parquet`,
`llm_calls/part-*.parquet` when the language model words the queries, and,
while it can still be continued, `checkpoint.msgpack`. The lifecycle —
the folder's lock, the checks on a resume, checkpoints, the final manifest —
is the core's (`simulator.core.rundir`), as for every domain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.frames import RunFrames
from personas.atomic import write_text_atomically
from personas.datasets.trec import load_trec_sessions
from simulator.core.loops import outside_running_loop
from simulator.core.manifest import (
    MANIFEST_VERSION,
    environment,
    file_sha256,
    git_revision,
    package_versions,
)
from simulator.core.rng import Streams
from simulator.core.rundir import claim, drive, finish, record, restore, run_id
from simulator.domains.search.collection import Collection
from simulator.domains.search.config import SearchConfig
from simulator.domains.search.engines.spec import checked_engine, make_engine
from simulator.domains.search.interfaces import SearchEngine
from simulator.domains.search.model import fit_searcher
from simulator.domains.search.population import (
    draw_searchers,
    load_searchers,
    save_searchers,
    split_topics,
)
from simulator.domains.search.world import SearchWorld
from simulator.llm.session import language_model, llm_manifest, llm_usage
from simulator.trace import SCHEMA_VERSION, TraceWriter

SEARCHERS_FILE = "searchers.json"
MODEL_FILE = "searcher_model.json"


@dataclass(frozen=True)
class SearchRunResult(RunFrames):
    """What a finished (or paused) search run produced."""

    run_dir: Path
    events: int
    sessions: int  # started
    ended: int
    queries: int
    clicks: int
    complete: bool
    resumed: bool
    status: str
    wall_seconds: float
    run_seconds: float  # the sessions themselves, without fitting and indexing


def _manifest(
    config: SearchConfig,
    out: Path,
    log_path: Path,
    engine: str,
    count: int,
    fitted: int,
    llm: Any,
) -> dict[str, Any]:
    words = {"searcher": llm.identity, "llm": llm_manifest(llm)} if llm is not None else {}
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": "search",
        "trace_schema_version": SCHEMA_VERSION,
        "config": config.model_dump(mode="json"),
        "root_seed": config.seed,
        "dataset": {
            "name": config.dataset,
            "path": str(log_path),
            "sha256": file_sha256(log_path),
        },
        "personas": {
            "file": SEARCHERS_FILE,
            "count": count,
            "sha256": file_sha256(out / SEARCHERS_FILE),
        },
        "searcher_model": {"file": MODEL_FILE, "fitted_sessions": fitted},
        "models": {"engine": engine, "searcher": words.get("searcher", "fitted")},
        **({"llm": words["llm"]} if words else {}),
        "versions": package_versions(),
        "environment": environment(),
        "git_revision": git_revision(),
        "status": "running",
    }


@outside_running_loop
def simulate_search(
    config: SearchConfig,
    out: str | Path,
    *,
    engine: SearchEngine | None = None,
    resume: bool = False,
    until: float | None = None,
    on_step: Callable[[SearchWorld], None] | None = None,
) -> SearchRunResult:
    """Run (or resume) `config` into `out`; stop after `until` simulated seconds if given.

    `engine`, if given, is the system under test as an object (checked against
    `SearchEngine`); otherwise `config.engine` names or imports it.
    """
    started = time.perf_counter()
    out = Path(out)
    # A bad file or engine is refused before the folder is taken.
    log = load_trec_sessions(config.dataset)
    streams = Streams(config.seed)
    collection = Collection.from_sessions(log)
    if engine is None:
        target, described = make_engine(config.engine, collection, streams), config.engine
    else:
        target = checked_engine(engine, "object")
        described = f"object:{target.name}"
    with claim(out, config, resume) as resume, _words(config, out) as llm:
        split = split_topics(log, streams)
        # Fitted afresh on a resume too: the dataset is pinned, so it is the same model,
        # and the copy in the folder, for readers, is never read back into a run.
        model = fit_searcher(split.fit)
        if resume:
            searchers = load_searchers(out / SEARCHERS_FILE)
        else:
            searchers = draw_searchers(split.heldout, config.personas)
            save_searchers(searchers, out / SEARCHERS_FILE)
            write_text_atomically(out / MODEL_FILE, model.model_dump_json(indent=2))
        world = SearchWorld(
            config=config,
            searchers=searchers,
            engine=target,
            model=model,
            trace=TraceWriter(out, config.part_rows, run_id(config)),
            streams=streams,
            llm=llm,
        )
        state = restore(world, out, resume)
        manifest = _manifest(config, out, log.path, described, len(searchers), len(split.fit), llm)
        manifest = record(out, manifest, resume, {"from_t": world.clock})
        running = time.perf_counter()
        # An engine this run built (a service's connection, say) is closed with the run.
        closers = [] if engine is not None else [lambda: _close(target)]
        if llm is not None:  # litellm's background logging ends on the loop it ran on
            closers.append(llm.aclose)
        drive(world, out, lambda checkpoint: world.run(until, on_step=on_step,
                                                       checkpoint=checkpoint),
              closers=closers, ledger=getattr(llm, "ledger", None))  # fmt: skip
        run_seconds = time.perf_counter() - running
        complete = world.finished
        counters = world.counters
        manifest = finish(
            world,
            out,
            manifest,
            complete=complete,
            usage=llm_usage(out) if llm is not None else None,
            sessions=counters["sessions"],
            sessions_ended=counters["ended"],
        )
        return SearchRunResult(
            run_dir=out,
            events=world.trace.next_seq,
            sessions=counters["sessions"],
            ended=counters["ended"],
            queries=counters["queries"],
            clicks=counters["clicks"],
            complete=complete,
            resumed=state is not None,
            status=manifest["status"],
            wall_seconds=time.perf_counter() - started,
            run_seconds=run_seconds,
        )


def _words(config: SearchConfig, out: Path) -> Any:
    """The language model that words the queries, open for the run; None when they are fitted."""
    return language_model(config.llm, out) if config.brain == "llm" else nullcontext(None)


async def _close(engine: SearchEngine) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()
