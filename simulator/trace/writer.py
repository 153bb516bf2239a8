"""Incremental, crash-safe trace writing: RUN_DIR/events/part-NNNNN.parquet.

Events are buffered and written as whole Parquet parts, each first to a
temporary name and then renamed, so a crash loses at most the buffer and a
reader never sees half a file. Part boundaries depend only on the event
sequence, which keeps same-seed runs byte-identical.
"""

from __future__ import annotations

from pathlib import Path

from simulator.trace.parts import PartWriter
from simulator.trace.schema import EVENT_SCHEMA, EventKind


class TraceWriter(PartWriter):
    """Buffers events and writes them as numbered Parquet parts."""

    def __init__(self, run_dir: Path, part_rows: int = 100_000) -> None:
        super().__init__(Path(run_dir) / "events", EVENT_SCHEMA, part_rows, "trace")

    def emit(
        self,
        t: float,
        event: EventKind,
        *,
        persona_id: str | None = None,
        session: int | None = None,
        page: int | None = None,
        position: int | None = None,
        item_id: int | None = None,
        examined: bool | None = None,
        rating: float | None = None,
        reason: str | None = None,
        target: str | None = None,
        text: str | None = None,
        role: str | None = None,
        turn: int | None = None,
        tokens: int | None = None,
        latency: float | None = None,
        channel: str | None = None,
    ) -> None:
        """Append one event; writes a part when the buffer is full."""
        b = self._buffer
        b["seq"].append(self.next_seq)
        b["t"].append(t)
        b["event"].append(event.value)
        b["persona_id"].append(persona_id)
        b["session"].append(session)
        b["page"].append(page)
        b["position"].append(position)
        b["item_id"].append(item_id)
        b["examined"].append(examined)
        b["rating"].append(rating)
        b["reason"].append(reason)
        b["target"].append(target)
        b["text"].append(text)
        b["role"].append(role)
        b["turn"].append(turn)
        b["tokens"].append(tokens)
        b["latency"].append(latency)
        b["channel"].append(channel)
        self._added()
