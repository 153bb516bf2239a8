from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.behaviour import behaviour_from_events
from analysis.frames import TraceError, load_events
from simulator.trace.schema import EVENT_SCHEMA, SCHEMA_VERSION, EventKind


def event(seq: int, t: float, kind: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_SCHEMA.names)
    row.update(seq=seq, t=t, event=kind, **fields)
    return row


def write_part(run: Path, name: str, rows: list[dict[str, Any]], schema: pa.Schema) -> Path:
    events = run / "events"
    events.mkdir(parents=True, exist_ok=True)
    path = events / name
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_load_events_concatenates_parts_and_sorts_by_seq(tmp_path: Path) -> None:
    write_part(
        tmp_path,
        "part-00001.parquet",
        [
            event(3, 30.0, "rate", persona_id="p", session=0, item_id=7, rating=4.0),
            event(2, 20.0, "click", persona_id="p", session=0, page=0, position=1, item_id=7),
        ],
        EVENT_SCHEMA,
    )
    write_part(
        tmp_path,
        "part-00000.parquet",
        [
            event(
                1,
                10.0,
                "impression",
                persona_id="p",
                session=0,
                page=0,
                position=1,
                item_id=7,
                examined=True,
            ),
            event(0, 0.0, "session_start", persona_id="p", session=0),
        ],
        EVENT_SCHEMA,
    )
    frame = load_events(str(tmp_path))
    assert frame["seq"].to_list() == [0, 1, 2, 3]
    assert frame["event"].to_list() == ["session_start", "impression", "click", "rate"]
    assert frame.columns == EVENT_SCHEMA.names
    assert frame.schema["session"] == pl.Int32
    assert frame.schema["page"] == pl.Int16
    assert frame.schema["rating"] == pl.Float32


def test_load_events_rejects_other_schema_version(tmp_path: Path) -> None:
    write_part(tmp_path, "part-00000.parquet", [event(0, 0.0, "refit")], EVENT_SCHEMA)
    stale = EVENT_SCHEMA.with_metadata({b"simfolk.trace.schema_version": b"999"})
    bad = write_part(tmp_path, "part-00001.parquet", [event(1, 1.0, "refit")], stale)
    with pytest.raises(TraceError) as info:
        load_events(tmp_path)
    message = str(info.value)
    assert bad.name in message
    assert "999" in message
    assert str(SCHEMA_VERSION) in message


def test_load_events_rejects_part_without_version(tmp_path: Path) -> None:
    bare = EVENT_SCHEMA.remove_metadata()
    bad = write_part(tmp_path, "part-00000.parquet", [event(0, 0.0, "refit")], bare)
    with pytest.raises(TraceError, match=re.escape(str(bad))):
        load_events(tmp_path)


def test_load_events_without_parts(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no events yet"):
        load_events(tmp_path)
    (tmp_path / "events").mkdir()
    with pytest.raises(TraceError, match="no events yet"):
        load_events(tmp_path)


def test_load_events_names_unreadable_part(tmp_path: Path) -> None:
    write_part(tmp_path, "part-00000.parquet", [event(0, 0.0, "refit")], EVENT_SCHEMA)
    broken = tmp_path / "events" / "part-00001.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(TraceError, match=re.escape(str(broken))):
        load_events(tmp_path)


def test_trace_error_is_a_value_error() -> None:
    assert issubclass(TraceError, ValueError)


def test_loaded_trace_becomes_behaviour(tmp_path: Path) -> None:
    # Sessions come from the ratings alone, cut at gaps over 30 minutes, not
    # from the simulator's session numbers: a's simulator session 1 has no
    # rating and is no session here; its simulator session 2 holds ratings
    # 1800 s after the previous one (same session) and then 1891 s later (new).
    rows = [
        event(0, 0.0, "session_start", persona_id="a", session=0),
        event(1, 5.0, "rate", persona_id="a", session=0, item_id=1, rating=4.0),
        event(2, 9.0, "rate", persona_id="a", session=0, item_id=2, rating=2.5),
        event(3, 10.0, "session_end", persona_id="a", session=0),
        event(4, 100.0, "session_start", persona_id="a", session=1),
        event(5, 110.0, "leave", persona_id="a", session=1, reason="bored"),
        event(6, 1000.0, "session_start", persona_id="a", session=2),
        event(7, 1809.0, "rate", persona_id="a", session=2, item_id=3, rating=3.0),
        event(8, 3700.0, "rate", persona_id="a", session=2, item_id=4, rating=1.0),
        event(9, 50.0, "session_start", persona_id="b", session=0),
        event(10, 60.0, "rate", persona_id="b", session=0, item_id=1, rating=5.0),
        event(11, 70.0, "refit", target="pop"),
        event(
            12,
            80.0,
            "impression",
            persona_id="c",
            session=0,
            page=0,
            position=0,
            item_id=3,
            examined=False,
        ),
    ]
    write_part(tmp_path, "part-00000.parquet", rows, EVENT_SCHEMA)
    b = behaviour_from_events(load_events(tmp_path), horizon_days=2.0, users=["d", "c", "b", "a"])

    assert b.users() == ["a", "b", "c", "d"]
    assert b.ratings.schema == pl.Schema(
        {
            "user_id": pl.String,
            "item_id": pl.Int64,
            "rating": pl.Float64,
            "t": pl.Float64,
            "session": pl.Int32,
            "count": pl.Int64,  # implicit feedback's; null for ratings
        }
    )
    assert b.ratings["count"].null_count() == b.ratings.height
    assert b.ratings.drop("count").rows() == [
        ("a", 1, 4.0, 5.0, 0),
        ("a", 2, 2.5, 9.0, 0),
        ("a", 3, 3.0, 1809.0, 0),
        ("a", 4, 1.0, 3700.0, 1),
        ("b", 1, 5.0, 60.0, 0),
    ]
    # Each session starts at its first rating and holds at least one.
    assert b.sessions.rows() == [("a", 0, 5.0, 3), ("a", 1, 3700.0, 1), ("b", 0, 60.0, 1)]
    assert b.sessions.schema["n_items"] == pl.Int32
    # Every persona of the run is observed for the whole run, even without events.
    assert b.windows.rows() == [("a", 2.0), ("b", 2.0), ("c", 2.0), ("d", 2.0)]


def test_behaviour_from_events_checks_its_arguments(tmp_path: Path) -> None:
    write_part(
        tmp_path,
        "part-00000.parquet",
        [event(0, 0.0, "rate", persona_id="z", session=0, item_id=1, rating=3.0)],
        EVENT_SCHEMA,
    )
    events = load_events(tmp_path)
    with pytest.raises(ValueError, match="horizon_days"):
        behaviour_from_events(events, horizon_days=0.0, users=["z"])
    with pytest.raises(ValueError, match="outside the population"):
        behaviour_from_events(events, horizon_days=1.0, users=["a"])


def test_every_trace_column_is_described_in_the_part_files_and_the_readme(tmp_path):
    from simulator.trace.schema import COLUMNS
    from simulator.trace.writer import TraceWriter

    writer = TraceWriter(tmp_path, run_id="r")
    writer.emit(0.0, EventKind.REFIT, target="x")
    writer.flush()
    schema = pq.read_schema(next((tmp_path / "events").glob("part-*.parquet")))
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert schema.names == list(COLUMNS)
    for name, (kind, nullable, words) in COLUMNS.items():
        assert schema.field(name).metadata == {b"description": words.encode()}
        assert f"| `{name}` | {kind}{'' if nullable else ', never null'} | {words} |" in readme
