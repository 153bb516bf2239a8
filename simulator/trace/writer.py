"""Incremental, crash-safe trace writing: RUN_DIR/events/part-NNNNN.parquet.

Events are buffered and written as whole Parquet parts, each first to a
temporary name and then renamed, so a crash loses at most the buffer and a
reader never sees half a file. Part boundaries depend only on the event
sequence, which keeps same-seed runs byte-identical.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from personas.atomic import replace_atomically, temporary_path
from simulator.trace.schema import EVENT_SCHEMA, EventKind

_COLUMNS = tuple(EVENT_SCHEMA.names)
_PART = re.compile(r"part-(?P<index>\d{5})\.parquet(?P<tmp>\.tmp)?")


class TraceWriter:
    """Buffers events and writes them as numbered Parquet parts."""

    def __init__(self, run_dir: Path, part_rows: int = 100_000) -> None:
        self.dir = Path(run_dir) / "events"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.part_rows = part_rows
        self.next_seq = 0
        self.next_part = 0
        self._buffer: dict[str, list[Any]] = {name: [] for name in _COLUMNS}

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
        self.next_seq += 1
        if len(b["seq"]) >= self.part_rows:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered events as the next part (atomically); None if empty."""
        if not self._buffer["seq"]:
            return None
        table = pa.Table.from_pydict(self._buffer, schema=EVENT_SCHEMA)
        path = self.dir / f"part-{self.next_part:05d}.parquet"
        tmp = temporary_path(path)
        pq.write_table(table, tmp, compression="zstd")
        replace_atomically(tmp, path)
        self.next_part += 1
        self._buffer = {name: [] for name in _COLUMNS}
        return path

    @property
    def buffered(self) -> int:
        """Events not yet on disk."""
        return len(self._buffer["seq"])

    def get_state(self) -> dict[str, Any]:
        """Counters; call only right after `flush` (a checkpoint holds no buffered events)."""
        if self.buffered:
            raise RuntimeError("flush the trace before taking its state")
        return {"next_seq": self.next_seq, "next_part": self.next_part}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue numbering; drop parts written after the checkpoint (a resume rewrites them)."""
        self.next_seq = state["next_seq"]
        self.next_part = state["next_part"]
        for path in sorted(self.dir.iterdir()):
            match = _PART.fullmatch(path.name)
            if match is None:
                raise ValueError(f"{path}: not a trace part; move it out of the events folder")
            if int(match["index"]) >= self.next_part or match["tmp"]:
                path.unlink()
