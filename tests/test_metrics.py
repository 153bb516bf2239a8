from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.behaviour import (
    Behaviour,
    behaviour_from_events,
    behaviour_from_log,
    behaviour_from_ratings,
)
from analysis.metrics import (
    coverage,
    ctr,
    ctr_by_position,
    examined_share,
    genre_share,
    gini,
    item_counts,
    items_per_session,
    pages_per_session,
    rating_values,
    ratings_per_day,
    session_gaps_hours,
    sessions_per_day,
    top_share,
)
from simulator.trace.schema import EVENT_SCHEMA

HOUR = 3600.0
DAY = 86400.0


def events_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    full = []
    for seq, fields in enumerate(rows):
        row: dict[str, Any] = dict.fromkeys(EVENT_SCHEMA.names)
        row.update(seq=seq, t=float(seq), **fields)
        full.append(row)
    frame = pl.from_arrow(pa.Table.from_pylist(full, schema=EVENT_SCHEMA))
    assert isinstance(frame, pl.DataFrame)
    return frame


def behaviour(
    ratings: list[tuple[str, int, float, float, int]],
    sessions: list[tuple[str, int, float, int]],
    windows: list[tuple[str, float]],
) -> Behaviour:
    return Behaviour(
        ratings=pl.DataFrame(
            ratings, schema=["user_id", "item_id", "rating", "t", "session"], orient="row"
        ),
        sessions=pl.DataFrame(
            sessions, schema=["user_id", "session", "start", "n_items"], orient="row"
        ),
        windows=pl.DataFrame(windows, schema=["user_id", "days"], orient="row"),
    )


@pytest.fixture
def small() -> Behaviour:
    # a: three sessions (listed out of time order), b: two, c: observed but idle.
    return behaviour(
        ratings=[
            ("a", 1, 4.0, 10.0, 0),
            ("a", 1, 3.0, 7300.0, 2),
            ("a", 2, 5.0, 3700.0, 1),
            ("b", 1, 2.0, 20.0, 0),
            ("b", 3, 1.0, 36010.0, 1),
            ("b", 4, 4.5, 36020.0, 1),
        ],
        sessions=[
            ("a", 0, 0.0, 1),
            ("a", 2, 2 * HOUR, 1),
            ("a", 1, HOUR, 1),
            ("b", 0, 0.0, 1),
            ("b", 1, 10 * HOUR, 2),
            ("b", 2, 12 * HOUR, 0),
        ],
        windows=[("a", 2.0), ("b", 0.5), ("c", 1.0)],
    )


def test_behaviour_normalises_types(small: Behaviour) -> None:
    assert small.ratings.schema["session"] == pl.Int32
    assert small.sessions.schema["n_items"] == pl.Int32
    assert small.users() == ["a", "b", "c"]


def test_behaviour_rejects_missing_columns() -> None:
    with pytest.raises(ValueError, match="rating"):
        Behaviour(
            ratings=pl.DataFrame({"user_id": ["a"]}),
            sessions=pl.DataFrame(),
            windows=pl.DataFrame(),
        )


def test_sample_metrics(small: Behaviour) -> None:
    assert sorted(rating_values(small)) == [1.0, 2.0, 3.0, 4.0, 4.5, 5.0]
    assert sorted(items_per_session(small)) == [0, 1, 1, 1, 1, 2]
    np.testing.assert_allclose(session_gaps_hours(small), [1.0, 1.0, 10.0, 2.0])
    np.testing.assert_allclose(sessions_per_day(small), [1.5, 6.0, 0.0])
    np.testing.assert_allclose(ratings_per_day(small), [1.5, 6.0, 0.0])
    assert item_counts(small).rows() == [(1, 3), (2, 1), (3, 1), (4, 1)]
    assert item_counts(small).schema == pl.Schema({"item_id": pl.Int64, "n": pl.Int64})


def test_gini_known_values() -> None:
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4]), n_items=4) == pytest.approx(0.75)
    assert gini(np.array([4]), n_items=4) == pytest.approx(0.75)
    assert gini(np.array([1, 3])) == pytest.approx(0.25)
    assert math.isnan(gini(np.array([], dtype=float)))
    assert math.isnan(gini(np.array([0, 0])))
    with pytest.raises(ValueError):
        gini(np.array([1, -1]))
    with pytest.raises(ValueError):
        gini(np.array([1, 2, 3]), n_items=2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=30), st.integers(0, 10), st.randoms())
def test_gini_matches_mean_absolute_difference(counts: list[int], extra: int, rnd: Any) -> None:
    padded = np.array(counts + [0] * extra, dtype=float)
    g = gini(np.array(counts), n_items=len(counts) + extra)
    if padded.sum() == 0:
        assert math.isnan(g)
        return
    n = padded.size
    expected = np.abs(padded[:, None] - padded[None, :]).sum() / (2 * n * padded.sum())
    assert g == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= g <= 1.0 - 1.0 / n + 1e-12
    rnd.shuffle(counts)
    assert gini(np.array(counts), n_items=len(counts) + extra) == pytest.approx(g, abs=1e-12)


def test_coverage_and_top_share(small: Behaviour) -> None:
    assert coverage(small, n_items=10) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        coverage(small, n_items=3)
    # Item counts are 3, 1, 1, 1 out of 6 ratings.
    assert top_share(small, 0.25) == pytest.approx(0.5)
    assert top_share(small, 0.5) == pytest.approx(4 / 6)
    assert top_share(small, 0.1) == pytest.approx(0.5)  # at least one item
    assert top_share(small, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        top_share(small, 0.0)


def test_top_share_rounding_of_group_size() -> None:
    # 30 items, 0.1 of them is 3 items even though 0.1 * 30 > 3 in floating point.
    ratings = [("u", item, 3.0, 0.0, 0) for item in range(30) for _ in range(30 - item)]
    b = behaviour(ratings, [("u", 0, 0.0, len(ratings))], [("u", 1.0)])
    total = sum(range(1, 31))
    assert top_share(b, 0.1) == pytest.approx((30 + 29 + 28) / total)


def test_genre_share() -> None:
    items = pl.DataFrame(
        {"item_id": [1, 2, 3, 4], "genres": [["A", "B"], ["B"], [], ["C"]]},
        schema={"item_id": pl.Int64, "genres": pl.List(pl.String)},
    )
    b = behaviour(
        [
            ("u", 1, 3.0, 0.0, 0),
            ("u", 1, 3.0, 1.0, 0),
            ("u", 2, 3.0, 2.0, 0),
            ("u", 3, 3.0, 3.0, 0),
            ("u", 4, 3.0, 4.0, 0),
            ("u", 9, 3.0, 5.0, 0),
        ],
        [("u", 0, 0.0, 6)],
        [("u", 1.0)],
    )
    # A gets 2 * 1/2, B gets 2 * 1/2 + 1; C is not asked for, 3 has no genres, 9 is unknown.
    np.testing.assert_allclose(genre_share(b, items, ["A", "B", "D"]), [1 / 3, 2 / 3, 0.0])
    empty = b.subset([])
    np.testing.assert_array_equal(genre_share(empty, items, ["A", "B"]), [0.0, 0.0])


@pytest.fixture
def clicks() -> pl.DataFrame:
    def imp(persona: str, session: int, page: int, position: int, examined: bool | None):
        return dict(
            event="impression",
            persona_id=persona,
            session=session,
            page=page,
            position=position,
            item_id=10 * page + position,
            examined=examined,
        )

    return events_frame(
        [
            dict(event="session_start", persona_id="a", session=0),
            imp("a", 0, 0, 0, True),
            imp("a", 0, 0, 1, True),
            dict(event="click", persona_id="a", session=0, page=0, position=0, item_id=0),
            imp("a", 0, 1, 0, False),
            imp("a", 0, 1, 1, None),
            dict(event="session_end", persona_id="a", session=0),
            dict(event="session_start", persona_id="a", session=1),
            dict(event="leave", persona_id="a", session=1, reason="nothing"),
            dict(event="session_start", persona_id="b", session=0),
            imp("b", 0, 0, 0, True),
            dict(event="click", persona_id="b", session=0, page=0, position=0, item_id=0),
            dict(event="refit", target="pop"),
        ]
    )


def test_simulation_metrics(clicks: pl.DataFrame) -> None:
    assert ctr(clicks) == pytest.approx(2 / 5)
    assert examined_share(clicks) == pytest.approx(3 / 5)
    np.testing.assert_array_equal(pages_per_session(clicks), [2, 0, 1])
    by_position = ctr_by_position(clicks)
    assert by_position.rows() == [(0, 3, 2, pytest.approx(2 / 3)), (1, 2, 0, 0.0)]
    assert by_position.columns == ["position", "impressions", "clicks", "ctr"]


def test_simulation_metrics_without_impressions() -> None:
    frame = events_frame([dict(event="session_start", persona_id="a", session=0)])
    assert math.isnan(ctr(frame))
    assert math.isnan(examined_share(frame))
    assert ctr_by_position(frame).height == 0
    np.testing.assert_array_equal(pages_per_session(frame), [0])


def test_behaviour_from_ratings_maps_users_and_sessionises() -> None:
    ratings = pl.DataFrame(
        {
            "user_id": [42, 42, 42, 7, 9],
            "item_id": [1, 2, 3, 1, 5],
            "rating": [4.0, 3.0, 5.0, 2.0, 1.0],
            "timestamp": [1000, 1000 + 3 * 86400, 1100, 5000, 6000],
            # A session column from elsewhere is ignored: sessions are cut here.
            "session": [5, 5, 5, 5, 5],
        }
    )
    b = behaviour_from_ratings(ratings, {42: "ml-100k-42", 7: "ml-100k-7", 5: "ml-100k-5"}, 4.0)
    # User 9 is not in the map and is dropped; user 5 rated nothing and stays.
    assert b.users() == ["ml-100k-42", "ml-100k-5", "ml-100k-7"]
    assert b.ratings.schema["user_id"] == pl.String
    assert b.ratings.filter(pl.col("user_id") == "ml-100k-42")["t"].to_list() == [
        1000.0,
        1100.0,
        1000.0 + 3 * 86400,
    ]
    assert b.sessions.rows() == [
        ("ml-100k-42", 0, 1000.0, 2),
        ("ml-100k-42", 1, 1000.0 + 3 * 86400, 1),
        ("ml-100k-7", 0, 5000.0, 1),
    ]
    # Every user has the same window; without ratings the rates are 0.
    assert b.windows.rows() == [("ml-100k-42", 4.0), ("ml-100k-5", 4.0), ("ml-100k-7", 4.0)]
    np.testing.assert_allclose(ratings_per_day(b), [0.75, 0.0, 0.25])
    np.testing.assert_allclose(sessions_per_day(b), [0.5, 0.0, 0.25])


def test_behaviour_from_ratings_keeps_only_the_window() -> None:
    start, day = 10_000, 86_400
    ratings = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2, 2],
            "item_id": [1, 2, 3, 4, 5, 6],
            "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0],
            "timestamp": [start - 1, start, start + day - 1, start + day, 100, 100 + day],
        }
    )
    b = behaviour_from_ratings(ratings, {1: "p1", 2: "p2"}, 1.0, starts={1: start, 2: 100 + day})
    # Just before the start and at the end are out; at the start and just
    # before the end are in. User 2's window starts at its second rating.
    assert b.ratings.select("user_id", "item_id").rows() == [("p1", 2), ("p1", 3), ("p2", 6)]
    assert b.windows.rows() == [("p1", 1.0), ("p2", 1.0)]
    later = {1: start + 2 * day, 2: 0}
    nothing = behaviour_from_ratings(ratings, {1: "p1", 2: "p2"}, 1.0, starts=later)
    assert nothing.ratings.filter(pl.col("user_id") == "p1").height == 0
    np.testing.assert_allclose(ratings_per_day(nothing), [0.0, 1.0])
    with pytest.raises(ValueError, match="starts lacks"):
        behaviour_from_ratings(ratings, {1: "p1", 2: "p2"}, 1.0, starts={1: 0})


def test_behaviour_from_ratings_reads_datetimes() -> None:
    ratings = pl.DataFrame(
        {
            "user_id": [1, 1],
            "item_id": [1, 2],
            "rating": [4.0, 3.0],
            "timestamp": [datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 3, tzinfo=UTC)],
        }
    )
    start = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    b = behaviour_from_ratings(ratings, {1: "a"}, 2.0, starts={1: start})
    assert b.ratings["t"].to_list() == [start]
    assert b.windows.rows() == [("a", 2.0)]
    with pytest.raises(ValueError, match="window_days"):
        behaviour_from_ratings(ratings, {1: "a"}, 0.0)
    with pytest.raises(ValueError, match="same persona"):
        behaviour_from_ratings(ratings, {1: "a", 2: "a"}, 1.0)


def test_behaviour_from_log_cuts_sessions_at_30_minutes() -> None:
    log = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b"],
            "item_id": [1, 2, 3, 4, 1],
            "rating": [1.0, 2.0, 3.0, 4.0, 5.0],
            # 1800 s continues a session, 1800.5 s starts the next one.
            "t": [0.0, 1800.0, 3600.5, 3700.0, 7.5],
        }
    )
    b = behaviour_from_log(log, ["a", "b", "c"], 3.0)
    assert b.ratings["session"].to_list() == [0, 0, 1, 1, 0]
    assert b.sessions.rows() == [("a", 0, 0.0, 2), ("a", 1, 3600.5, 2), ("b", 0, 7.5, 1)]
    assert b.windows.rows() == [("a", 3.0), ("b", 3.0), ("c", 3.0)]
    with pytest.raises(ValueError, match="outside the population"):
        behaviour_from_log(log, ["a"], 1.0)
    with pytest.raises(ValueError, match="repeat"):
        behaviour_from_log(log, ["a", "b", "a"], 1.0)
    with pytest.raises(ValueError, match="window_days"):
        behaviour_from_log(log, ["a", "b"], -1.0)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 20),
            st.sampled_from([1.0, 2.5, 4.0]),
            st.integers(0, int(3 * DAY) - 1).map(float),  # whole seconds, as in data
        ),
        max_size=30,
    ),
    st.lists(st.integers(10**8, 2 * 10**8), min_size=4, max_size=4),
)
def test_both_sides_measure_one_log_alike(
    log: list[tuple[int, int, float, float]], starts: list[int]
) -> None:
    # The same ratings as simulated events (seconds since the run start) and as
    # a real log (seconds since the epoch, each user from its train cutoff,
    # plus ratings outside the window) give the same behaviour up to the clock.
    days = 3.0
    users = {u: f"p{u}" for u in range(4)}
    events = events_frame(
        [
            dict(event="rate", persona_id=users[u], session=0, item_id=i, rating=r)
            for u, i, r, _ in log
        ]
    ).with_columns(pl.Series("t", [offset for *_, offset in log], dtype=pl.Float64))
    real_rows = [(u, i, r, starts[u] + offset) for u, i, r, offset in log]
    real_rows += [(u, 99, 1.0, starts[u] - 1.0) for u in range(4)]
    real_rows += [(u, 99, 1.0, starts[u] + days * DAY) for u in range(4)]
    ratings = pl.DataFrame(
        real_rows, schema=["user_id", "item_id", "rating", "timestamp"], orient="row"
    )
    sim = behaviour_from_events(events, days, list(users.values()))
    real = behaviour_from_ratings(ratings, users, days, starts={u: float(starts[u]) for u in users})
    assert sim.windows.equals(real.windows)
    assert sim.ratings.drop("t").equals(real.ratings.drop("t"))
    assert sim.sessions.drop("start").equals(real.sessions.drop("start"))
    for metric in (items_per_session, session_gaps_hours, sessions_per_day, ratings_per_day):
        np.testing.assert_allclose(metric(sim), metric(real), atol=1e-6)
    assert (sim.sessions["n_items"] >= 1).all()


user_names = st.sampled_from(["u0", "u1", "u2", "u3", "u4"])


@st.composite
def behaviours(draw: st.DrawFn) -> Behaviour:
    ratings = draw(
        st.lists(
            st.tuples(
                user_names,
                st.integers(0, 20),
                st.floats(0.5, 5.0),
                st.floats(0, 1e6),
                st.integers(0, 3),
            ),
            max_size=40,
        )
    )
    sessions = draw(
        st.lists(
            st.tuples(user_names, st.integers(0, 3), st.floats(0, 1e6), st.integers(0, 5)),
            max_size=20,
        )
    )
    users = sorted({r[0] for r in ratings} | {s[0] for s in sessions})
    windows = [(u, draw(st.floats(0.5, 30.0))) for u in users]
    return behaviour(ratings, sessions, windows)


@settings(max_examples=40, deadline=None)
@given(behaviours(), st.sets(user_names))
def test_subset_keeps_only_those_users(b: Behaviour, keep: set[str]) -> None:
    part = b.subset(keep)
    assert set(part.users()) == set(b.users()) & keep
    for name in ("ratings", "sessions", "windows"):
        whole: pl.DataFrame = getattr(b, name)
        assert getattr(part, name).equals(whole.filter(pl.col("user_id").is_in(list(keep))))
    assert b.subset(b.users()).ratings.equals(b.ratings)
