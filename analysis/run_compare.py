"""Hold a run's trace against the held-out real data of the same users.

With exposure doors the run's social graph (``friends.parquet``) is held against
both sides too: do friends share items more than strangers, in sim and in real?

Both sides cover the same stretch of each user's life: the simulation plays
the ``days`` days after each persona's train cutoff, so the real side is, for
each persona's user, the held-out ratings with
``train_until <= timestamp < train_until + days * 86400`` (``train_until`` from
the persona's provenance). Every persona counts on both sides, active or not,
with a window of ``days`` days, and both sides are sessionised by the same rule
(see :mod:`analysis.behaviour`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl

from analysis.behaviour import behaviour_from_events, behaviour_from_ratings
from analysis.compare import ComparisonRow, compare
from analysis.frames import load_events, run_personas
from analysis.metrics import ctr, ctr_by_position, examined_share, pages_per_session
from personas.datasets import load_dataset, split_ratings
from personas.sampled import People
from simulator.core.manifest import read_manifest
from simulator.core.rng import Streams
from simulator.domains.recsys.exposure.runtime import FRIENDS_FILE
from simulator.domains.recsys.exposure.social import taste_overlap


@dataclass(frozen=True)
class RunComparison:
    """The comparison table and the metrics only a simulation has."""

    rows: list[ComparisonRow]
    simulated: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `{"rows": [...], "simulated": {...}}`."""
        return {"rows": [row.as_dict() for row in self.rows], "simulated": self.simulated}


def _field(manifest: dict[str, Any], path: Path, *keys: str) -> Any:
    """``manifest[k1][k2]...``, or a ValueError naming the file and the missing key."""
    value: Any = manifest
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            name = ".".join(keys[: depth + 1])
            raise ValueError(f"{path}: the manifest has no {name!r}")
        value = value[key]
    return value


def _friends_overlap(
    run_dir: Path,
    personas: People,
    events: pl.DataFrame,
    heldout: pl.DataFrame,
    mapping: dict[int, str],
    starts: dict[int, float],
    days: float,
    seed: int | None,
) -> dict[str, Any] | None:
    """Do friends (the run's social graph) share items more than strangers, in sim and real?"""
    path = run_dir / FRIENDS_FILE
    if not path.exists():
        return None
    edges = pl.read_parquet(path)
    graph = nx.Graph()
    graph.add_nodes_from(personas.ids())
    graph.add_edges_from(
        zip(edges["persona_a"].to_list(), edges["persona_b"].to_list(), strict=True)
    )
    kinds = ["rate", "consume"]
    rated = events.filter(pl.col("event").is_in(kinds)).group_by("persona_id").agg("item_id")
    sim = {pid: frozenset(items) for pid, items in rated.iter_rows()}
    window = heldout.filter(
        pl.col("timestamp")
        < pl.col("user_id").replace_strict(starts, return_dtype=pl.Float64) + days * 86400.0
    )
    real = {
        mapping[uid]: frozenset(frame["item_id"].to_list())
        for (uid,), frame in window.partition_by("user_id", as_dict=True).items()
    }
    streams = Streams(0 if seed is None else seed)
    return {
        "sim": taste_overlap(graph, sim, streams.generator("compare", "friends:sim")),
        "real": taste_overlap(graph, real, streams.generator("compare", "friends:real")),
    }


def _real_side(
    personas: People, train: pl.DataFrame, personas_file: Path
) -> tuple[dict[int, str], dict[int, float]]:
    """The real users each side holds (user -> id on the real side) and their cutoffs.

    Personas built from users face those users. A population with sampled personas
    (nobody in particular) faces every train user of the split the sampler was fitted
    on, each from its own train cutoff: a population against a population.
    """
    mapping: dict[int, str] = {}
    starts: dict[int, float] = {}
    if personas.sampled is not None or any(p.provenance.source == "sampler" for p in personas):
        cutoffs = train.group_by("user_id").agg(pl.col("timestamp").max()).sort("user_id")
        for user, until in cutoffs.iter_rows():
            mapping[int(user)] = f"real-{user}"
            starts[int(user)] = float(until)
        return mapping, starts
    for p in personas:
        user, until = p.provenance.user_id, p.provenance.train_until
        if user is None or until is None:
            raise ValueError(
                f"{personas_file}: persona {p.id!r} has no dataset user_id or train_until, "
                "so it has no real counterpart to compare with"
            )
        mapping[user] = p.id
        starts[user] = float(until)
    return mapping, starts


def compare_run(
    run_dir: str | Path, *, seed: int | None = None, n_splits: int = 5
) -> RunComparison:
    """Compare a complete run with the held-out period of the users its personas were built from.

    Args:
        run_dir: The run directory.
        seed: Seed of the random user splits; the run's root seed if None.
        n_splits: Number of random user splits (see :func:`analysis.compare.compare`).

    Returns:
        The comparison table and the simulation-only metrics.

    Raises:
        ValueError: If the run is not complete, its manifest lacks a needed key,
            the dataset changed since the run, or a persona has no dataset user
            or train cutoff.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    manifest_path = run_dir / "manifest.json"

    def get(*keys: str) -> Any:
        return _field(manifest, manifest_path, *keys)

    status = get("status")
    if status != "complete":
        days_done = manifest.get("days_done", "?")
        raise ValueError(
            f"{run_dir}: the run is {status} after day {days_done}; "
            "resume it (simfolk run ... --resume) before comparing"
        )
    path, name, sha256 = get("dataset", "path"), get("dataset", "name"), get("dataset", "sha256")
    dataset = load_dataset(path if Path(path).exists() else name)
    if dataset.sha256 != sha256:
        raise ValueError(
            f"{run_dir}: the run used dataset {name} with sha256 "
            f"{sha256[:12]}…, but {dataset.path} now has {dataset.sha256[:12]}…; "
            "point SIMFOLK_DATA at the same copy"
        )
    split = split_ratings(
        dataset.ratings, get("split", "holdout"), get("split", "min_train"), timed=dataset.timed
    )
    days = float(get("config", "days"))
    personas_file = run_dir / get("personas", "file")
    personas = run_personas(run_dir)
    mapping, starts = _real_side(personas, split.train, personas_file)
    heldout = split.heldout.filter(pl.col("user_id").is_in(list(mapping)))
    real = behaviour_from_ratings(heldout, mapping, window_days=days, starts=starts)
    events = load_events(run_dir)
    sim = behaviour_from_events(events, horizon_days=days, users=personas.ids())
    rows = compare(
        sim,
        real,
        items=dataset.items,
        genres=dataset.genres,
        n_items=dataset.items.height,
        seed=get("root_seed") if seed is None else seed,
        n_splits=n_splits,
        feedback=dataset.feedback,
        timed=dataset.timed,
    )
    pages = pages_per_session(events)
    friends = _friends_overlap(run_dir, personas, events, heldout, mapping, starts, days, seed)
    simulated: dict[str, Any] = {
        "events": events.height,
        "personas": len(personas),
        "sessions": int(pages.size),
        "ctr": ctr(events),
        "examined_share": examined_share(events),
        "pages_per_session": float(pages.mean()) if pages.size else None,
        "ctr_by_position": ctr_by_position(events).to_dicts(),
    }
    if friends is not None:
        simulated["friends"] = friends
    return RunComparison(rows=rows, simulated=simulated)
