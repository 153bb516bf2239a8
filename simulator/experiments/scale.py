"""`simfolk bench scale`: both engines over population sizes, in one invocation.

Each (size, engine) run goes to its own process (spawned), so its peak memory is
its own; sizes the per-agent engine would take too long for are left to the
columnar one. Where both ran, the columnar trace is held against the per-agent
one with the split-half compare (the per-agent run as the "real" side): ratios
near 1 say the two engines' populations behave alike. With `shards` S > 1 each
size also runs the columnar engine in S Ray shards, and says whether its event
files are byte for byte those of one process (its peak RSS is the driver's: the
Ray workers are the raylet's children, not the bench's).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import resource
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from simulator.domains.recsys.config import RunConfig


def _one(config: RunConfig, out: str) -> dict[str, Any]:
    from simulator.domains.recsys.run import simulate

    result = simulate(config, out)
    parts = sorted((Path(out) / "events").glob("part-*.parquet"))
    persona_weeks = config.personas * config.days / 7.0
    return {
        "personas": config.personas,
        "days": config.days,
        "engine": config.engine,
        "shards": config.shards,
        "events": result.events,
        "wall_seconds": result.wall_seconds,
        "run_seconds": result.run_seconds,
        "persona_weeks_per_second": persona_weeks / result.run_seconds,
        "events_per_second": result.events / result.run_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "trace_bytes": sum(p.stat().st_size for p in parts),
    }


def _digests(run: str) -> dict[str, str]:
    parts = sorted((Path(run) / "events").glob("part-*.parquet"))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in parts}


def _engines_alike(agents: str, columnar: str, seed: int) -> list[dict[str, Any]]:
    """The columnar run's behaviour against the per-agent run's, metric by metric."""
    from analysis.behaviour import behaviour_from_events
    from analysis.compare import compare
    from analysis.frames import load_events, run_personas
    from personas.datasets import load_dataset
    from simulator.core.manifest import read_manifest

    manifest = read_manifest(Path(agents))
    dataset = load_dataset(manifest["dataset"]["name"])
    days = float(manifest["config"]["days"])
    users = run_personas(agents).ids()
    sides = [
        behaviour_from_events(load_events(run), horizon_days=days, users=users)
        for run in (columnar, agents)
    ]
    rows = compare(
        sides[0],
        sides[1],
        items=dataset.items,
        genres=dataset.genres,
        n_items=dataset.items.height,
        seed=seed,
        feedback=dataset.feedback,
        timed=dataset.timed,
    )
    return [row.as_dict() for row in rows]


def bench_scale(
    *,
    sizes: Sequence[int],
    days: int,
    engines: Sequence[str],
    dataset: str,
    target: str,
    seed: int,
    agents_max: int,
    shards: int = 1,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Wall, speed, peak memory and trace size per (size, engine); the engines' likeness."""
    runs: list[dict[str, Any]] = []
    alike: dict[str, list[dict[str, Any]]] = {}
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="simfolk-scale-") as tmp:
        for size in sizes:
            dirs: dict[str, str] = {}
            order = sorted(set(engines))  # agents first: columnar is held against it
            plan = [(e, 1) for e in order if e == "columnar" or size <= agents_max]
            if shards > 1 and "columnar" in engines:
                plan.append(("columnar", shards))
            for engine, cut in plan:
                config = RunConfig(
                    dataset=dataset,
                    personas=size,
                    days=days,
                    seed=seed,
                    target=target,
                    engine=engine,  # type: ignore[arg-type]
                    shards=cut,
                    part_rows=1_000_000,
                )
                name = engine if cut == 1 else f"{engine}x{cut}"
                out = str(Path(tmp) / f"{name}-{size}")
                with spawn.Pool(1) as pool:
                    runs.append(pool.apply(_one, (config, out)))
                if cut > 1:  # the shards' files against one process's, byte for byte
                    runs[-1]["same_events_as_one_shard"] = _digests(out) == _digests(dirs[engine])
                dirs[name] = out
                if on_run is not None:  # a long bench says each run as it ends
                    on_run(runs[-1])
                if name == "columnar" and "agents" in dirs:
                    alike[str(size)] = _engines_alike(dirs["agents"], dirs["columnar"], seed)
            for run in dirs.values():  # the next size's traces need the disk more
                shutil.rmtree(run, ignore_errors=True)
    frame = pl.DataFrame(runs)
    slope = None
    columnar = (
        frame.filter(pl.col("engine") == "columnar", pl.col("shards") == 1)
        if frame.height
        else frame
    )
    if columnar.height >= 2:  # seconds per persona-week, fitted through the sizes
        weeks = (columnar["personas"] * columnar["days"] / 7.0).to_numpy()
        seconds = columnar["run_seconds"].to_numpy()
        slope = float(((weeks - weeks.mean()) * (seconds - seconds.mean())).sum()
                      / ((weeks - weeks.mean()) ** 2).sum())  # fmt: skip
    return {"runs": runs, "engines_alike": alike, "columnar_seconds_per_persona_week": slope}
