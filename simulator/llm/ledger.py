"""Accounting of every request to the model: RUN_DIR/llm_calls/part-NNNNN.parquet.

One row per request: each HTTP attempt (failed ones too) and each cache hit.
Rows are buffered and written as whole Parquet parts, each to a temporary name
first and then renamed (as the event trace is), so a reader never sees half a
part. The model column holds the cache identity, never a key or an address.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.trace.parts import PartWriter

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


class CallLedger(PartWriter):
    """Buffers request rows and writes them as numbered Parquet parts."""

    def __init__(self, run_dir: Path, part_rows: int = 10_000) -> None:
        super().__init__(Path(run_dir) / LEDGER_DIR, CALL_SCHEMA, part_rows, "LLM ledger")

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
        for name in self.schema.names:
            self._buffer[name].append(row[name])
        self._added()


def read_calls(run_dir: Path) -> pl.DataFrame:
    """Every ledger row of a run, in part order (empty, with the schema, if none)."""
    folder = Path(run_dir) / LEDGER_DIR
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(path, schema=CALL_SCHEMA) for path in parts]
    table = pa.concat_tables(tables) if tables else CALL_SCHEMA.empty_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a frame
    return frame
