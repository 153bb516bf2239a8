"""Accounting of every request to the model: RUN_DIR/llm_calls/part-NNNNN.parquet.

One row per request: each HTTP attempt (failed ones too) and each cache hit.
Rows are buffered and written as whole Parquet parts, each to a temporary name
first and then renamed (as the event trace is), so a reader never sees half a
part. The model column holds the cache identity, never a key or an address.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from personas.atomic import replace_atomically, temporary_path

LEDGER_VERSION = 1
LEDGER_DIR = "llm_calls"

CALL_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),  # order of recording
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("persona_id", pa.string()),
        pa.field("t", pa.float64()),  # simulated seconds, when the caller knows them
        pa.field("model", pa.string(), nullable=False),  # cache identity
        pa.field("attempt", pa.int16(), nullable=False),  # transport retry, 0 = first try
        pa.field("repair", pa.int16(), nullable=False),  # re-ask after an invalid answer, 0 = none
        pa.field("cache_hit", pa.bool_(), nullable=False),
        pa.field("ok", pa.bool_(), nullable=False),  # a usable answer came back
        pa.field("error", pa.string()),  # reason code when not ok
        pa.field("prompt_tokens", pa.int32(), nullable=False),
        pa.field("completion_tokens", pa.int32(), nullable=False),
        pa.field("latency_s", pa.float64(), nullable=False),  # wall seconds; 0 for cache hits
        pa.field("cost_usd", pa.float64()),  # null when litellm does not price the model
    ],
    metadata={b"simfolk.llm_calls.version": str(LEDGER_VERSION).encode()},
)
_COLUMNS = tuple(CALL_SCHEMA.names)
_PART = re.compile(r"part-(?P<index>\d{5})\.parquet(?P<tmp>\.tmp)?")


class CallLedger:
    """Buffers request rows and writes them as numbered Parquet parts."""

    def __init__(self, run_dir: Path, part_rows: int = 10_000) -> None:
        self.dir = Path(run_dir) / LEDGER_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.part_rows = part_rows
        self.next_seq = 0
        self.next_part = 0
        self._buffer: dict[str, list[Any]] = {name: [] for name in _COLUMNS}

    def record(
        self,
        *,
        purpose: str,
        persona_id: str | None,
        t: float | None,
        model: str,
        attempt: int,
        repair: int,
        cache_hit: bool,
        ok: bool,
        error: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        cost_usd: float | None,
    ) -> None:
        """Append one request's row; writes a part when the buffer is full."""
        row = {
            "seq": self.next_seq,
            "purpose": purpose,
            "persona_id": persona_id,
            "t": t,
            "model": model,
            "attempt": attempt,
            "repair": repair,
            "cache_hit": cache_hit,
            "ok": ok,
            "error": error,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "latency_s": latency_s,
            "cost_usd": cost_usd,
        }
        for name in _COLUMNS:
            self._buffer[name].append(row[name])
        self.next_seq += 1
        if self.buffered >= self.part_rows:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as the next part (atomically); None if empty."""
        if not self.buffered:
            return None
        table = pa.Table.from_pydict(self._buffer, schema=CALL_SCHEMA)
        path = self.dir / f"part-{self.next_part:05d}.parquet"
        tmp = temporary_path(path)
        pq.write_table(table, tmp, compression="zstd")
        replace_atomically(tmp, path)
        self.next_part += 1
        self._buffer = {name: [] for name in _COLUMNS}
        return path

    @property
    def buffered(self) -> int:
        """Rows not yet on disk."""
        return len(self._buffer["seq"])

    def get_state(self) -> dict[str, Any]:
        """Counters; call only right after `flush` (a checkpoint holds no buffered rows)."""
        if self.buffered:
            raise RuntimeError("flush the LLM ledger before taking its state")
        return {"next_seq": self.next_seq, "next_part": self.next_part}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue numbering; drop parts written after the checkpoint (a resume rewrites them)."""
        self.next_seq = state["next_seq"]
        self.next_part = state["next_part"]
        self._buffer = {name: [] for name in _COLUMNS}
        for path in sorted(self.dir.iterdir()):
            match = _PART.fullmatch(path.name)
            if match is None:
                raise ValueError(f"{path}: not a ledger part; move it out of {LEDGER_DIR}/")
            if int(match["index"]) >= self.next_part or match["tmp"]:
                path.unlink()


def read_calls(run_dir: Path) -> pl.DataFrame:
    """Every ledger row of a run, in part order (empty, with the schema, if none)."""
    folder = Path(run_dir) / LEDGER_DIR
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(path, schema=CALL_SCHEMA) for path in parts]
    table = pa.concat_tables(tables) if tables else CALL_SCHEMA.empty_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a frame
    return frame
