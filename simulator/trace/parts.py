"""Rows buffered by column and written as numbered Parquet parts, each atomically.

A part goes to a temporary name first and is then renamed, so a crash loses at
most the buffer and a reader never sees half a file. Part boundaries depend
only on the row sequence. The event trace and the LLM ledger are both written
this way.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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
    """Buffers rows of `schema` and writes them as `folder/part-NNNNN.parquet`.

    Rows come one at a time (`_buffer`, then `_added`) or as whole Arrow tables
    (`add_table`, for an engine that makes events by the array); full parts of
    tables are encoded on a background thread (pyarrow lets go of the GIL), and
    `flush` waits for them, so a checkpoint still follows its parts to disk.
    """

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
        self._tables: list[pa.Table] = []  # rows that came as tables, after `_buffer`'s sealed
        self._table_rows = 0
        self._background: ThreadPoolExecutor | None = None
        self._writing: list[Future[None]] = []

    def _empty(self) -> dict[str, list[Any]]:
        return {name: [] for name in self.schema.names}

    def _added(self) -> None:
        """Count the row just appended to the buffer; write a part when it is full."""
        self.next_seq += 1
        if self.buffered >= self.part_rows:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Append rows of the schema (their `seq` already numbered from `next_seq`)."""
        self._seal()
        self._tables.append(table)
        self._table_rows += table.num_rows
        self.next_seq += table.num_rows
        while self._table_rows >= self.part_rows:
            whole = pa.concat_tables(self._tables)
            part, rest = whole.slice(0, self.part_rows), whole.slice(self.part_rows)
            self._tables, self._table_rows = [rest], rest.num_rows
            if self._background is None:
                self._background = ThreadPoolExecutor(1, thread_name_prefix=f"{self.what}-parts")
            path = self._next_path()
            self._writing.append(self._background.submit(self._write, part, path))

    def _seal(self) -> None:
        """Turn rows buffered one by one into a table, keeping their place in the order."""
        if not self._buffer["seq"]:
            return
        self._tables.append(pa.Table.from_pydict(self._buffer, schema=self.schema))
        self._table_rows += len(self._buffer["seq"])
        self._buffer = self._empty()

    def _next_path(self) -> Path:
        path = self.dir / f"part-{self.next_part:05d}.parquet"
        self.next_part += 1
        return path

    def _write(self, table: pa.Table, path: Path) -> None:
        table = self._redacted(table)
        tmp = temporary_path(path)
        pq.write_table(table, tmp, compression="zstd")
        replace_atomically(tmp, path)

    def _redacted(self, table: pa.Table) -> pa.Table:
        """The table with credentials redacted from its text (`core.redact`), value by value.

        Distinct values are redacted once: an engine's reasons and names repeat.
        """
        secrets = environment_secrets()
        for name in self._text_columns:
            column = table[name]
            distinct = [v for v in pc.unique(column).to_pylist() if v is not None]
            changed = {v: redact(v, secrets) for v in distinct}
            if all(v == w for v, w in changed.items()):
                continue
            values = [None if v is None else changed[v] for v in column.to_pylist()]
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(name), pa.array(values, pa.string()))
        return table

    def wait(self) -> None:
        """Until every part handed to the background thread is on disk (its error, if any)."""
        writing, self._writing = self._writing, []
        for future in writing:
            future.result()

    def flush(self) -> Path | None:
        """Write the buffered rows as the next part (atomically); None if empty."""
        self._seal()
        if not self._table_rows:
            self.wait()
            return None
        table = pa.concat_tables(self._tables)
        self._tables, self._table_rows = [], 0
        path = self._next_path()
        self.wait()
        self._write(table, path)
        return path

    @property
    def buffered(self) -> int:
        """Rows not yet handed to a part."""
        return len(self._buffer["seq"]) + self._table_rows

    def get_state(self) -> dict[str, Any]:
        """Counters; call only right after `flush` (a checkpoint holds no buffered rows)."""
        if self.buffered:
            raise RuntimeError(f"flush the {self.what} before taking its state")
        self.wait()
        return {"next_seq": self.next_seq, "next_part": self.next_part}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue numbering; drop parts written after the checkpoint (a resume rewrites them)."""
        self.wait()
        self.next_seq = state["next_seq"]
        self.next_part = state["next_part"]
        self._buffer = self._empty()
        self._tables, self._table_rows = [], 0
        for path in part_files(self.dir, self.what):
            if int(path.name.removeprefix("part-")[:5]) >= self.next_part:
                path.unlink()
