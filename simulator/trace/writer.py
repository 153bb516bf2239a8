"""Incremental, crash-safe trace writing: RUN_DIR/events/part-NNNNN.parquet.

Events are buffered and written as whole Parquet parts, each first to a
temporary name and then renamed, so a crash loses at most the buffer and a
reader never sees half a file. Part boundaries depend only on the event
sequence, which keeps same-seed runs byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from simulator.core.text import clean_text
from simulator.trace.parts import PartWriter
from simulator.trace.schema import EVENT_SCHEMA, EventKind

RUN_ID_KEY = b"simfolk.run_id"  # in every part's metadata: which run wrote it


class TraceWriter(PartWriter):
    """Buffers events and writes them as numbered Parquet parts."""

    def __init__(self, run_dir: Path, part_rows: int = 100_000, run_id: str | None = None) -> None:
        metadata = {RUN_ID_KEY: run_id.encode()} if run_id else None
        super().__init__(Path(run_dir) / "events", EVENT_SCHEMA, part_rows, "trace", metadata)

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
        count: int | None = None,
        channel: str | None = None,
        doc_id: str | None = None,
        title: str | None = None,
        url: str | None = None,
        dwell: float | None = None,
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
        b["reason"].append(None if reason is None else clean_text(reason))
        b["target"].append(target)
        b["text"].append(None if text is None else clean_text(text))
        b["role"].append(role)
        b["turn"].append(turn)
        b["tokens"].append(tokens)
        b["latency"].append(latency)
        b["count"].append(count)
        b["channel"].append(channel)
        b["doc_id"].append(doc_id)
        b["title"].append(None if title is None else clean_text(title))
        b["url"].append(url)
        b["dwell"].append(dwell)
        self._added()

    def emit_columns(self, n: int, columns: Mapping[str, Any]) -> None:
        """Append `n` events given by column (arrays or lists of length n; a scalar repeats).

        Columns left out are null; `seq` is numbered here. Text must be the engine's own
        words (reasons, names): it is not cleaned as `emit` cleans a model's text.
        """
        if n == 0:
            return
        unknown = set(columns) - set(self.schema.names) | ({"seq"} & set(columns))
        if unknown:
            raise ValueError(f"emit_columns: not event columns: {sorted(unknown)}")
        arrays = []
        for field in self.schema:
            if field.name == "seq":
                arrays.append(pa.array(np.arange(self.next_seq, self.next_seq + n), pa.int64()))
                continue
            value = columns.get(field.name)
            if value is None:
                arrays.append(pa.nulls(n, field.type))
            elif isinstance(value, pa.Array):
                arrays.append(value.cast(field.type))
            elif isinstance(value, str | int | float | bool):
                arrays.append(pa.array([value] * n, field.type))
            else:
                arrays.append(pa.array(value, field.type))
        self.add_table(pa.Table.from_arrays(arrays, schema=self.schema))
