"""Rows buffered by column and written as numbered Parquet parts, each atomically.

A part goes to a temporary name first and is then renamed, so a crash loses at
most the buffer and a reader never sees half a file. Part boundaries depend
only on the row sequence. The event trace and the LLM ledger are both written
this way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from personas.atomic import replace_atomically, temporary_path
from simulator.core.redact import environment_secrets, redact

_PART = re.compile(r"part-(?P<index>\d{5})\.parquet(?P<tmp>\.tmp)?")


def part_files(folder: Path, what: str, allowed: tuple[str, ...] = ()) -> list[Path]:
    """The complete parts in `folder`, in order; half-written ones (``.tmp``) are removed.

    Raises:
        ValueError: naming a file that is neither a part nor one of `allowed`.
    """
    parts = []
    for path in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        match = _PART.fullmatch(path.name)
        if match is None:
            if path.name in allowed:
                continue
            raise ValueError(f"{path}: not a {what} part; move it out of {Path(folder).name}/")
        if match["tmp"]:
            path.unlink()
        else:
            parts.append(path)
    return parts


class PartWriter:
    """Buffers rows of `schema` and writes them as `folder/part-NNNNN.parquet`."""

    def __init__(
        self,
        folder: Path,
        schema: pa.Schema,
        part_rows: int,
        what: str,
        metadata: dict[bytes, bytes] | None = None,
    ) -> None:
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        # Each part carries its schema's metadata plus `metadata` (the run's id, for readers).
        self.schema = schema.with_metadata({**(schema.metadata or {}), **(metadata or {})})
        self.part_rows = part_rows
        self._text_columns = [f.name for f in schema if pa.types.is_string(f.type)]
        self.what = what  # named in errors: "trace", "LLM ledger"
        self.next_seq = 0
        self.next_part = 0
        self._buffer: dict[str, list[Any]] = self._empty()

    def _empty(self) -> dict[str, list[Any]]:
        return {name: [] for name in self.schema.names}

    def _added(self) -> None:
        """Count the row just appended to the buffer; write a part when it is full."""
        self.next_seq += 1
        if self.buffered >= self.part_rows:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as the next part (atomically); None if empty."""
        if not self.buffered:
            return None
        secrets = environment_secrets()
        for name in self._text_columns:  # credentials never reach a part (core.redact)
            column = self._buffer[name]
            self._buffer[name] = [None if v is None else redact(v, secrets) for v in column]
        table = pa.Table.from_pydict(self._buffer, schema=self.schema)
        path = self.dir / f"part-{self.next_part:05d}.parquet"
        tmp = temporary_path(path)
        pq.write_table(table, tmp, compression="zstd")
        replace_atomically(tmp, path)
        self.next_part += 1
        self._buffer = self._empty()
        return path

    @property
    def buffered(self) -> int:
        """Rows not yet on disk."""
        return len(self._buffer["seq"])

    def get_state(self) -> dict[str, Any]:
        """Counters; call only right after `flush` (a checkpoint holds no buffered rows)."""
        if self.buffered:
            raise RuntimeError(f"flush the {self.what} before taking its state")
        return {"next_seq": self.next_seq, "next_part": self.next_part}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue numbering; drop parts written after the checkpoint (a resume rewrites them)."""
        self.next_seq = state["next_seq"]
        self.next_part = state["next_part"]
        self._buffer = self._empty()
        for path in part_files(self.dir, self.what):
            if int(path.name.removeprefix("part-")[:5]) >= self.next_part:
                path.unlink()
