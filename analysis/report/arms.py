"""What the report says about each run it shows: provenance, files, the human comparison."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.frames import TraceError
from analysis.numbers import fmt
from simulator.core.rundir import RunDirError

CLOSE_RATIO = 1.5  # a simulated distance within 1.5x the human floor counts as close
FAR_RATIO = 3.0  # beyond this the report warns that the population is not like real people


@dataclass(frozen=True)
class Arm:
    """One run shown in the report: an A/B arm, or the single run itself."""

    name: str
    target: str
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        """The run's domain kind (recsys for manifests from before runs said it)."""
        return str(self.manifest.get("kind", "recsys"))


def listing(root: Path, skip: set[Path]) -> list[dict[str, str]]:
    """The files and folders directly under `root`, with sizes (folders summed)."""
    rows: list[dict[str, str]] = []
    for child in sorted(root.iterdir(), key=lambda p: p.name):
        if child.resolve() in skip:
            continue
        if child.is_dir():
            files = [f for f in child.rglob("*") if f.is_file() and f.resolve() not in skip]
            size = sum(f.stat().st_size for f in files)
            rows.append(
                {"name": child.name + "/", "size": _size(size), "note": f"{len(files)} files"}
            )
        elif child.is_file():
            rows.append({"name": child.name, "size": _size(child.stat().st_size), "note": ""})
    return rows


def _size(n: int) -> str:
    """A byte count as B, kB, MB or GB (powers of 1000)."""
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def provenance(arm: Arm) -> dict[str, str]:
    """The manifest fields that say what the run was, as display strings."""
    m = arm.manifest
    dataset = m.get("dataset") or {}
    personas = m.get("personas") or {}
    rows = {
        "target": m.get("target", arm.target),
        "status": m.get("status"),
        "days done": m.get("days_done"),
        "events": m.get("events"),
        "brain": m.get("brain"),
        "personas": personas.get("count"),
        "dataset": dataset.get("name"),
        "dataset sha256": (dataset.get("sha256") or "")[:12] or None,
        "split": (m.get("split") or {}).get("rule"),
        "taste space": m.get("taste_space"),
        "root seed": m.get("root_seed"),
        "trace schema": m.get("trace_schema_version"),
        "git revision": m.get("git_revision"),
        "python": (m.get("environment") or {}).get("python"),
    }
    for package, version in sorted((m.get("versions") or {}).items()):
        rows[package] = version
    return {key: fmt(value, 4, significant=True) for key, value in rows.items()}


def overview(config: dict[str, Any], arms: list[Arm]) -> dict[str, str]:
    """What was run: scenario, data, population, clock and what was under test."""
    rows = {
        "scenario": config.get("scenario"),
        "dataset": config.get("dataset"),
        "personas": config.get("personas"),
        "days": config.get("days"),
        "seed": config.get("seed"),
        "brain": config.get("brain"),
        "target" if len(arms) == 1 else "targets": ", ".join(a.target for a in arms),
    }
    return {key: fmt(value, 4, significant=True) for key, value in rows.items()}


def human(arm: Arm) -> dict[str, Any]:
    """The arm's human-vs-simulated table, or why there is none."""
    try:
        comparison = _compare(arm)
    # The report is still worth having without this table; say why it is missing.
    except Exception as exc:
        # A damaged or changed run folder is a fault; a run that cannot be compared
        # (paused, no human data, hand-made personas) is only a missing table.
        damaged = isinstance(exc, (TraceError, RunDirError))
        return {"error": f"{type(exc).__name__}: {exc}", "rows": [], "damaged": damaged}
    rows = [
        {
            "metric": r.metric,
            "distance_name": r.distance_name,
            "distance": r.distance,
            "floor": r.floor,
            "ratio": r.ratio,
            "simulated": r.simulated,
            "real": r.real,
            "close": not math.isnan(r.ratio) and r.ratio <= CLOSE_RATIO,
        }
        for r in comparison.rows
    ]
    return {"error": None, "rows": rows, "damaged": False}


def _compare(arm: Arm) -> Any:
    """The arm held against real people, as its domain does it."""
    if arm.kind == "chat":
        from analysis.dialogue_compare import compare_chat_run

        root = os.environ.get("SIMFOLK_DATA")
        real = Path(root) / "convai2" if root else None
        if real is None or not real.exists():
            raise FileNotFoundError(
                "no human dialogues: set SIMFOLK_DATA to a folder with convai2/"
            )
        return compare_chat_run(arm.run_dir, real)
    if arm.kind == "search":
        from analysis.search_runs import compare_search_run

        return compare_search_run(arm.run_dir)
    from analysis.run_compare import compare_run

    return compare_run(arm.run_dir)


def far_metrics(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics whose simulated distance is more than FAR_RATIO human floors."""
    return [r["metric"] for r in rows if not math.isnan(r["ratio"]) and r["ratio"] > FAR_RATIO]
