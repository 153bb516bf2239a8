"""Accounting of every request to the model: RUN_DIR/llm_calls/part-NNNNN.parquet.

One row per request: each HTTP attempt (failed ones too) and each cache hit.
Rows are buffered and written as whole Parquet parts, each to a temporary name
first and then renamed (as the event trace is), so a reader never sees half a
part. The model column holds the cache identity, never a key or an address.

The ledger is what was asked, so unlike the trace it is never rolled back: each
row also goes to `journal.jsonl` the moment it is recorded (the request is then
being made, or has just been answered), so a kill -9 loses no paid request. The
next ledger opened on the folder, a resume's, first writes the journal's rows
as a part; on resume the rows of the killed stretch stay and new rows follow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from personas.atomic import replace_atomically, temporary_path
from simulator.core.redact import environment_secrets, redact
from simulator.trace.parts import PartWriter, part_files

LEDGER_VERSION = 1
LEDGER_DIR = "llm_calls"
JOURNAL_FILE = "journal.jsonl"
_OURS = (JOURNAL_FILE, JOURNAL_FILE + ".tmp")  # besides the parts, in the folder

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
    """Buffers request rows and writes them as numbered Parquet parts; journals each at once."""

    def __init__(self, run_dir: Path, part_rows: int = 10_000) -> None:
        super().__init__(Path(run_dir) / LEDGER_DIR, CALL_SCHEMA, part_rows, "LLM ledger")
        self._opened = 0
        self._pending: dict[int, str] = {}  # journal lines of requests sent, not yet answered
        self._continue_from_disk()
        self._journal: TextIO = (self.dir / JOURNAL_FILE).open("a", encoding="utf-8")

    def _continue_from_disk(self) -> None:
        """Number on from the parts there, writing first what only the journal holds."""
        parts = part_files(self.dir, self.what, allowed=_OURS)
        self.next_part = _next_index(parts)
        self.next_seq = _last_seq(parts) + 1
        rows = _journal_rows(self.dir, after=self.next_seq - 1)
        # The recovered rows replace the journal first (atomically, as closed rows), so a
        # kill while they become a part cannot turn one lost request into two rows.
        _replace_journal(self.dir, [json.dumps({**row, "closes": None}) for row in rows])
        for row in rows:
            for name in self.schema.names:
                self._buffer[name].append(row.get(name))
            self.next_seq = int(row["seq"]) + 1
        super().flush()
        _replace_journal(self.dir, [])

    def open_request(
        self, *, purpose: str, persona_id: str | None, t: float | None, model: str,
        attempt: int, repair: int,
    ) -> int:  # fmt: skip
        """Journal a request about to be sent; its `record` closes it. Returns its handle.

        A request the process dies waiting on becomes a row with error "interrupted".
        """
        self._opened += 1
        fields = {"purpose": purpose, "persona_id": persona_id, "t": t, "model": model}
        line = {"open": self._opened, **fields, "attempt": attempt, "repair": repair}
        self._pending[self._opened] = self._journal_line(line)
        return self._opened

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
        opened: int | None = None,
    ) -> None:
        """Append one request's row (closing `opened`); writes a part when the buffer is full."""
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
        if opened is not None:
            self._pending.pop(opened, None)
        self._journal_line({**row, "closes": opened})
        for name in self.schema.names:
            self._buffer[name].append(row[name])
        self._added()

    def _journal_line(self, line: dict[str, Any]) -> str:
        """Write one line to the journal, to the OS at once: a kill -9 after this keeps it."""
        secrets = environment_secrets()
        text = json.dumps(
            {k: redact(v, secrets) if isinstance(v, str) else v for k, v in line.items()}
        )
        self._journal.write(text + "\n")
        self._journal.flush()
        return text

    def flush(self) -> Path | None:
        """Write the buffered rows as a part; the journal keeps only requests still in flight."""
        path = super().flush()
        if path is not None and not self._journal.closed:
            # A kill between the two leaves rows in both; the next open skips those.
            self._journal.close()
            _replace_journal(self.dir, list(self._pending.values()))
            self._journal = (self.dir / JOURNAL_FILE).open("a", encoding="utf-8")
        return path

    def set_state(self, state: dict[str, Any]) -> None:
        """Resume: keep every row on disk (the requests were made) and number on after them."""
        part_files(self.dir, self.what, allowed=_OURS)
        self.next_seq = max(self.next_seq, int(state["next_seq"]))
        self.next_part = max(self.next_part, int(state["next_part"]))

    def close(self) -> None:
        """Write what is buffered and close the journal."""
        if not self._journal.closed:
            self.flush()
            self._journal.close()


def _read_part(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns, schema=CALL_SCHEMA)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(
            f"{path}: unreadable LLM ledger part ({type(exc).__name__}: {exc})"
        ) from exc


def _replace_journal(folder: Path, lines: list[str]) -> None:
    """Put `lines` in place of the journal in one rename: a kill keeps the old or the new."""
    path = folder / JOURNAL_FILE
    tmp = temporary_path(path)
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
        out.flush()
        os.fsync(out.fileno())
    replace_atomically(tmp, path)


def _next_index(parts: list[Path]) -> int:
    """One past the highest part number (not the count: a gap must not be overwritten)."""
    return max((int(p.name.removeprefix("part-")[:5]) for p in parts), default=-1) + 1


def _last_seq(parts: list[Path]) -> int:
    if not parts:
        return -1
    seqs = _read_part(parts[-1], ["seq"])["seq"]
    return int(pa.compute.max(seqs).as_py()) if len(seqs) else -1


def _journal_rows(folder: Path, after: int) -> list[dict[str, Any]]:
    """Journal rows past seq `after`, then one "interrupted" row per request never answered.

    A last line cut off by a kill is dropped.
    """
    path = folder / JOURNAL_FILE
    if not path.is_file():
        return []
    rows, opened, closed = [], {}, set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written when the process died
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("open"), int):
            opened[entry["open"]] = entry
            continue
        closed.add(entry.get("closes"))
        if isinstance(entry.get("seq"), int) and entry["seq"] > after:
            rows.append(entry)
    seq = max([after, *(int(row["seq"]) for row in rows)]) + 1
    for handle, entry in opened.items():
        if handle not in closed:
            lost = {"cache_hit": False, "ok": False, "error": "interrupted", "latency_s": 0.0}
            rows.append({**entry, **lost, "seq": seq, "prompt_tokens": 0, "completion_tokens": 0})
            seq += 1
    return rows


def read_calls(run_dir: Path) -> pl.DataFrame:
    """Every ledger row of a run, parts then journal, in seq order (empty, with the schema)."""
    folder = Path(run_dir) / LEDGER_DIR
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    tables = [_read_part(path) for path in parts]
    table = pa.concat_tables(tables) if tables else CALL_SCHEMA.empty_table()
    journaled = _journal_rows(folder, after=_last_seq(parts)) if folder.is_dir() else []
    if journaled:
        columns = {name: [row.get(name) for row in journaled] for name in CALL_SCHEMA.names}
        table = pa.concat_tables([table, pa.Table.from_pydict(columns, schema=CALL_SCHEMA)])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table always gives a frame
    return frame
