"""`simfolk bench archetypes`: LLM tokens per persona-decision, per persona and by archetype.

Both brains run on one embedded server with the cache off, so every token is
paid for: `--brain llm` (one call per page) on a small population, and `--brain
archetype` (one call per archetype and group of shelves, for the whole run) on
the population asked for. A per-persona brain's tokens per decision do not
depend on how many personas there are — each page is its own call — while the
archetype brain's fall as the population grows, its calls being bounded by
archetypes × calls per archetype; both figures are measured, not extrapolated.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from simulator.domains.recsys.brains.archetypes import ArchetypeConfig
from simulator.domains.recsys.config import RunConfig
from simulator.llm.config import LLMConfig


def cost(run_dir: Path) -> dict[str, Any]:
    """What a run's LLM calls cost (from its ledger) per page it decided."""
    from simulator.llm import read_calls

    calls = read_calls(run_dir).filter(pl.col("purpose") != "probe")
    parts = sorted((run_dir / "events").glob("part-*.parquet"))
    pages = (
        pl.scan_parquet(parts)
        .filter(pl.col("event") == "impression")
        .select("persona_id", "session", "page")
        .unique()
        .select(pl.len())
        .collect()
        .item()
    )
    tokens = int(calls.select(pl.sum("prompt_tokens") + pl.sum("completion_tokens")).item())
    return {
        "calls": calls.height,
        "failed_calls": calls.filter(~pl.col("ok")).height,
        "by_purpose": dict(calls.group_by("purpose").len().sort("purpose").iter_rows()),
        "tokens": tokens,
        "decisions": int(pages),
        "tokens_per_decision": tokens / pages if pages else math.nan,
    }


def bench_archetypes(
    *,
    dataset: str,
    personas: int,
    days: int,
    llm_personas: int,
    llm_days: int,
    archetypes: ArchetypeConfig,
    seed: int,
    slots: int = 4,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Both brains on one embedded server; figures as a JSON-ready dict."""
    from simulator.domains.recsys.run import simulate
    from simulator.llm.server import EmbeddedServer

    figures: dict[str, Any] = {"dataset": dataset, "seed": seed}
    with (
        EmbeddedServer(slots=slots).start() as server,
        tempfile.TemporaryDirectory(prefix="simfolk-bench-archetypes-") as tmp,
    ):
        base = RunConfig(
            scenario="bench-archetypes",
            dataset=dataset,
            seed=seed,
            archetypes=archetypes,
            llm=LLMConfig(
                model=server.model, api_base=server.api_base, cache=False, concurrency=slots
            ),
        )
        root = workdir or Path(tmp)
        runs = {
            "llm": base.model_copy(
                update={"brain": "llm", "personas": llm_personas, "days": llm_days}
            ),
            "archetype": base.model_copy(
                update={"brain": "archetype", "personas": personas, "days": days}
            ),
        }
        for name, config in runs.items():
            result = simulate(config, root / name)
            figures[name] = {
                "personas": config.personas,
                "days": config.days,
                "complete": result.complete,
                "wall_seconds": result.wall_seconds,
                **cost(result.run_dir),
            }
        figures["model"] = server.identity
    calls_each = math.ceil(archetypes.shelves / archetypes.per_call)
    figures["archetype"]["calls_at_most"] = min(archetypes.count, personas) * calls_each
    figures["ratio"] = (
        figures["llm"]["tokens_per_decision"] / figures["archetype"]["tokens_per_decision"]
    )
    return figures
