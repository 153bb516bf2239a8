"""Trace to polars: read a run's Parquet event parts into one frame."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.trace.schema import EVENT_SCHEMA, SCHEMA_VERSION

_VERSION_KEY = b"simfolk.trace.schema_version"


class TraceError(ValueError):
    """A run's trace cannot be read; the message names the file and the reason."""


def _read_part(part: Path) -> pa.Table:
    try:
        metadata = pq.read_schema(part).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise TraceError(f"{part}: unreadable trace part ({exc})") from exc
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
        TraceError: If the run has no parts yet, a part cannot be read, or a part
            was written with another schema version.
    """
    events_dir = Path(run_dir) / "events"
    parts = sorted(events_dir.glob("part-*.parquet"), key=lambda p: p.name)
    if not parts:
        raise TraceError(f"{events_dir}: the run has no events yet (no part-*.parquet)")
    table = pa.concat_tables([_read_part(part) for part in parts])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
    return frame.sort("seq")
