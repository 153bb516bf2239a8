"""Hold a run's trace against the held-out real data of the same users."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analysis.behaviour import behaviour_from_events, behaviour_from_ratings
from analysis.compare import ComparisonRow, compare
from analysis.frames import load_events
from analysis.metrics import ctr, ctr_by_position, examined_share, pages_per_session
from personas.datasets import load_dataset, sessionize, temporal_split
from personas.io import load_personas
from simulator.manifest import read_manifest


@dataclass(frozen=True)
class RunComparison:
    """The comparison table and the metrics only a simulation has."""

    rows: list[ComparisonRow]
    simulated: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `{"rows": [...], "simulated": {...}}`."""
        return {"rows": [row.as_dict() for row in self.rows], "simulated": self.simulated}


def compare_run(
    run_dir: str | Path, *, seed: int | None = None, n_splits: int = 5
) -> RunComparison:
    """Compare a run with the held-out period of the users its personas were built from."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    recorded = manifest["dataset"]
    dataset = load_dataset(
        recorded["path"] if Path(recorded["path"]).is_dir() else recorded["name"]
    )
    if dataset.sha256 != recorded["sha256"]:
        raise ValueError(
            f"{run_dir}: the run used dataset {recorded['name']} with sha256 "
            f"{recorded['sha256'][:12]}…, but {dataset.path} now has {dataset.sha256[:12]}…; "
            "point SIMFOLK_DATA at the same copy"
        )
    split_cfg = manifest["split"]
    split = temporal_split(
        dataset.ratings, holdout=split_cfg["holdout"], min_train=split_cfg["min_train"]
    )
    personas = load_personas(run_dir / manifest["personas"]["file"])
    mapping = {p.provenance.user_id: p.id for p in personas if p.provenance.user_id is not None}
    heldout = split.heldout.filter(pl.col("user_id").is_in(list(mapping)))
    real = behaviour_from_ratings(sessionize(heldout), user_ids=mapping)
    events = load_events(run_dir)
    days = float(manifest["config"]["days"])
    sim = behaviour_from_events(events, horizon_days=days)
    rows = compare(
        sim,
        real,
        items=dataset.items,
        genres=dataset.genres,
        n_items=dataset.items.height,
        seed=manifest["root_seed"] if seed is None else seed,
        n_splits=n_splits,
    )
    pages = pages_per_session(events)
    simulated = {
        "events": events.height,
        "personas": len(personas),
        "sessions": int(pages.size),
        "ctr": ctr(events),
        "examined_share": examined_share(events),
        "pages_per_session": float(pages.mean()) if pages.size else None,
        "ctr_by_position": ctr_by_position(events).to_dicts(),
    }
    return RunComparison(rows=rows, simulated=simulated)
