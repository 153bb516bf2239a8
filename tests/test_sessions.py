"""Sessions cut at long gaps: properties and examples."""

from __future__ import annotations

from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from personas.datasets import SESSION_GAP_SECONDS, sessionize

SCHEMA = {"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64}
KEYS = ["user_id", "timestamp", "item_id"]


def frame(rows: list[tuple[int, int, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


ratings = st.lists(
    st.tuples(
        st.integers(1, 4),
        st.integers(1, 10),
        st.sampled_from([1.0, 3.0, 4.5]),
        st.integers(0, 20_000),
    ),
    max_size=60,
).map(frame)
gaps = st.sampled_from([0, 1, 30, 1800, 2500.5]) | st.floats(0, 6000)


@settings(max_examples=60, deadline=None)
@given(df=ratings, gap=gaps, data=st.data())
def test_session_properties(df: pl.DataFrame, gap: float, data: st.DataObject) -> None:
    out = sessionize(df, gap_seconds=gap)
    assert out.columns == [*df.columns, "session"]
    assert out.schema["session"] == pl.Int32
    assert_frame_equal(out.select(KEYS), out.select(KEYS).sort(KEYS))
    everything = [*KEYS, "rating"]
    assert_frame_equal(out.drop("session").sort(everything), df.sort(everything))

    for user in out.partition_by("user_id", maintain_order=True):
        stamps = user["timestamp"].to_list()
        sessions = user["session"].to_list()
        assert sessions[0] == 0
        for (t0, s0), (t1, s1) in pairwise(zip(stamps, sessions, strict=True)):
            assert s1 in (s0, s0 + 1)  # numbers run 0..k-1 with no holes
            if s1 == s0:
                assert t1 - t0 <= gap
            else:
                assert t1 - t0 > gap

    order = data.draw(st.permutations(range(df.height)))
    assert_frame_equal(sessionize(df[list(order)], gap_seconds=gap), out)


def test_default_gap_and_example() -> None:
    assert SESSION_GAP_SECONDS == 1800
    df = frame(
        [
            (2, 5, 4.0, 10),
            (1, 1, 3.0, 0),
            (1, 2, 3.0, 1800),  # exactly the gap: same session
            (1, 3, 3.0, 3601),  # 1801 later: new session
            (1, 4, 3.0, 3602),
            (1, 5, 3.0, 99_999),
        ]
    )
    out = sessionize(df)
    assert out["user_id"].to_list() == [1, 1, 1, 1, 1, 2]
    assert out["session"].to_list() == [0, 0, 1, 1, 2, 0]


def test_existing_session_column_is_replaced() -> None:
    df = frame([(1, 1, 3.0, 0), (1, 2, 3.0, 10_000)]).with_columns(session=pl.lit(7))
    out = sessionize(df)
    assert out["session"].to_list() == [0, 1]
    assert out.schema["session"] == pl.Int32


def test_empty_and_bad_gap() -> None:
    assert sessionize(frame([])).height == 0
    with pytest.raises(ValueError, match="gap_seconds"):
        sessionize(frame([]), gap_seconds=-1)
    with pytest.raises(ValueError, match="gap_seconds"):
        sessionize(frame([]), gap_seconds=float("nan"))
