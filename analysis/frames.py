"""Trace to polars: read a run's Parquet event parts into one frame, checked against its manifest.

Every reader (compare, report, export, ab, judge) comes through `load_events`,
so a trace with a missing part, a part of another run, or a changed part is
refused here, once, naming the file; `run_personas` and `load_timeseries` do
the same for the run's persona file and its time series.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from personas.sampled import People
from simulator.population import run_personas as core_run_personas
from simulator.trace.schema import EVENT_SCHEMA, SCHEMA_VERSION
from simulator.trace.writer import RUN_ID_KEY

_VERSION_KEY = b"simfolk.trace.schema_version"
_PART = re.compile(r"part-(\d{5})\.parquet")
_LIVE = ("starting", "running")  # a run still writing: its manifest does not count parts yet


class TraceError(ValueError):
    """A run's trace cannot be read; the message names the file and the reason."""


def _manifest(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return None  # a bare trace folder (a test's, a tool's): checked for gaps only
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise TraceError(f"{path}: not a run manifest (a JSON {type(data).__name__})")
    return data


def _parts(events_dir: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """The parts to read: numbered from 0 without a gap, as many as the manifest counts."""
    parts = sorted(events_dir.glob("part-*.parquet"), key=lambda p: p.name)
    if not parts:
        raise TraceError(f"{events_dir}: the run has no events yet (no part-*.parquet)")
    for index, part in enumerate(parts):
        match = _PART.fullmatch(part.name)
        if match is None or int(match[1]) != index:
            raise TraceError(
                f"{events_dir}/part-{index:05d}.parquet: missing (the parts jump to {part.name}); "
                "the trace is incomplete"
            )
    if manifest is None or manifest.get("status") in _LIVE:
        return parts
    counted = manifest.get("event_parts")
    if isinstance(counted, int) and counted != len(parts):
        what = "missing" if len(parts) < counted else "not this run's"
        raise TraceError(
            f"{events_dir}: {len(parts)} parts, but the manifest counts {counted} "
            f"(part-{min(counted, len(parts)):05d}.parquet is {what})"
        )
    recorded = manifest.get("event_sha256")
    if not isinstance(recorded, dict):
        return parts  # a run from before sha256s were recorded
    for part in parts:
        if hashlib.sha256(part.read_bytes()).hexdigest() != recorded.get(part.name):
            raise TraceError(f"{part}: its sha256 is not the one the manifest recorded (changed)")
    return parts


def _read_part(part: Path, run_id: object = None) -> pa.Table:
    try:
        metadata = pq.read_schema(part).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise TraceError(f"{part}: unreadable trace part ({exc})") from exc
    written_by = metadata.get(RUN_ID_KEY)
    if isinstance(run_id, str) and written_by is not None and written_by != run_id.encode():
        raise TraceError(
            f"{part}: written by another run (run id {written_by.decode(errors='replace')}, "
            f"the manifest's {run_id})"
        )
    found = metadata.get(_VERSION_KEY)
    expected = str(SCHEMA_VERSION).encode()
    if found != expected:
        shown = "none" if found is None else found.decode(errors="replace")
        raise TraceError(
            f"{part}: trace schema version {shown}, but this analysis reads version "
            f"{SCHEMA_VERSION}"
        )
    try:
        table = pq.read_table(part)
    except (OSError, pa.ArrowException) as exc:
        raise TraceError(f"{part}: unreadable trace part ({exc})") from exc
    missing = [name for name in EVENT_SCHEMA.names if name not in table.column_names]
    if missing:
        raise TraceError(f"{part}: trace part lacks columns {missing}")
    # One column order and one set of types for every part, so they concatenate.
    try:
        return table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    except (pa.ArrowException, ValueError) as exc:
        raise TraceError(f"{part}: trace part does not fit the event schema ({exc})") from exc


def load_events(run_dir: str | Path) -> pl.DataFrame:
    """Read every event of a run into one frame ordered by ``seq``.

    Args:
        run_dir: The run directory; its events lie in ``events/part-*.parquet``.

    Returns:
        One row per event, with the columns and types of the trace's event schema.

    Raises:
        TraceError: If the run has no parts yet, a part cannot be read, was written
            with another schema version or by another run, is missing, or is not
            the part the manifest recorded; or the rows are not the manifest's count.
    """
    run_dir = Path(run_dir)
    events_dir = run_dir / "events"
    manifest = _manifest(run_dir)
    parts = _parts(events_dir, manifest)
    run_id = manifest.get("run_id") if manifest else None
    table = pa.concat_tables([_read_part(part, run_id) for part in parts])
    finished = manifest is not None and manifest.get("status") not in _LIVE
    counted = manifest.get("events") if finished and manifest else None
    if isinstance(counted, int) and counted != table.num_rows:
        raise TraceError(
            f"{events_dir}: {table.num_rows} events, but the manifest counts {counted}"
        )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
    return frame.sort("seq")


def run_personas(run_dir: str | Path) -> People:
    """The run's personas, refused if the file is not the one its manifest recorded."""
    return core_run_personas(Path(run_dir))


def load_timeseries(run_dir: str | Path) -> pl.DataFrame | None:
    """The run's ``timeseries.parquet`` (None if it has none), or a TraceError naming it."""
    path = Path(run_dir) / "timeseries.parquet"
    if not path.is_file():
        return None
    try:
        # Through pyarrow: it reports a damaged file as an error, where polars can panic.
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise TraceError(f"{path}: unreadable time series ({type(exc).__name__}: {exc})") from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
    return frame


class RunFrames:
    """A run's result, read back as polars frames (mixed into each domain's run result)."""

    run_dir: Path

    def events_frame(self) -> pl.DataFrame:
        """Every event of the run, checked against its manifest (`load_events`)."""
        return load_events(self.run_dir)

    def personas_frame(self) -> pl.DataFrame:
        """One row per persona, its fields as columns (nested ones as structs)."""
        return pl.DataFrame([p.model_dump(mode="json") for p in run_personas(self.run_dir)])

    def timeseries_frame(self) -> pl.DataFrame | None:
        """One row per simulated day (None for a run that wrote no series)."""
        return load_timeseries(self.run_dir)
