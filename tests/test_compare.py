from __future__ import annotations

import importlib
import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from analysis.behaviour import Behaviour
from analysis.compare import ComparisonRow, compare
from analysis.distance import jensen_shannon, ks, wasserstein
from analysis.metrics import coverage, rating_values

GENRES = ["Action", "Comedy", "Drama", "Horror"]
N_ITEMS = 60
ROWS = [
    ("rating", "wasserstein"),
    ("items_per_session", "wasserstein"),
    ("session_gap_hours", "ks"),
    ("sessions_per_day", "wasserstein"),
    ("ratings_per_day", "wasserstein"),
    ("item_gini", "abs_diff"),
    ("item_top10_share", "abs_diff"),
    ("coverage", "abs_diff"),
    ("genre_share", "jensen_shannon"),
]

samples = st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30)
# No subnormals: scipy's reference halves them to 0 and returns inf.
weights = st.lists(st.floats(0.0, 10.0, allow_subnormal=False), min_size=4, max_size=4)


def test_distance_known_values() -> None:
    assert wasserstein([0.0, 1.0], [2.0, 3.0]) == pytest.approx(2.0)
    assert ks([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(1.0)
    assert ks([1.0, 2.0], [1.0, 3.0]) == pytest.approx(0.5)
    assert jensen_shannon([1.0, 0.0], [0.0, 3.0]) == pytest.approx(1.0)
    assert jensen_shannon([1.0, 0.0], [0.5, 0.5]) == pytest.approx(0.311278, abs=1e-6)
    assert jensen_shannon([2.0, 2.0], [1.0, 1.0]) == 0.0


def test_distances_of_empty_inputs_are_nan() -> None:
    assert math.isnan(wasserstein([], [1.0]))
    assert math.isnan(ks([1.0], []))
    assert math.isnan(jensen_shannon([0.0, 0.0], [1.0, 0.0]))
    with pytest.raises(ValueError):
        jensen_shannon([1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        jensen_shannon([1.0, -1.0], [1.0, 1.0])


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_sample_distances_symmetric_and_zero_on_self(a: list[float], b: list[float]) -> None:
    assert wasserstein(a, b) == pytest.approx(wasserstein(b, a), rel=1e-9, abs=1e-9)
    assert ks(a, b) == pytest.approx(ks(b, a), abs=1e-12)
    assert wasserstein(a, a) == pytest.approx(0.0, abs=1e-9)
    assert ks(a, a) == 0.0
    assert 0.0 <= ks(a, b) <= 1.0


@settings(max_examples=60, deadline=None)
@given(weights, weights)
def test_jensen_shannon_properties(p: list[float], q: list[float]) -> None:
    if sum(p) == 0 or sum(q) == 0:
        assert math.isnan(jensen_shannon(p, q))
        return
    value = jensen_shannon(p, q)
    assert 0.0 <= value <= 1.0
    assert value == jensen_shannon(q, p)
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-12)
    assert value == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-9)


def random_behaviour(seed: int, n_users: int, prefix: str = "u") -> Behaviour:
    rng = np.random.default_rng(seed)
    ratings, sessions, windows = [], [], []
    for u in range(n_users):
        user = f"{prefix}{u:03d}"
        start = float(rng.uniform(0, 86_400))
        for s in range(int(rng.integers(1, 6))):
            n = int(rng.integers(0, 5))
            sessions.append((user, s, start, n))
            for k in range(n):
                item = int(min(rng.zipf(1.5), N_ITEMS) - 1)
                ratings.append((user, item, float(rng.integers(1, 6)), start + 60.0 * k, s))
            start += float(rng.exponential(36_000.0))
        windows.append((user, float(rng.uniform(1.0, 20.0))))
    return Behaviour(
        ratings=pl.DataFrame(
            ratings, schema=["user_id", "item_id", "rating", "t", "session"], orient="row"
        ),
        sessions=pl.DataFrame(
            sessions, schema=["user_id", "session", "start", "n_items"], orient="row"
        ),
        windows=pl.DataFrame(windows, schema=["user_id", "days"], orient="row"),
    )


@pytest.fixture(scope="module")
def items() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    genres = [
        sorted(set(rng.choice(GENRES, size=int(rng.integers(1, 3))).tolist()))
        for _ in range(N_ITEMS)
    ]
    return pl.DataFrame(
        {"item_id": list(range(N_ITEMS)), "genres": genres},
        schema={"item_id": pl.Int64, "genres": pl.List(pl.String)},
    )


def run(sim: Behaviour, real: Behaviour, items: pl.DataFrame, seed: int) -> list[ComparisonRow]:
    return compare(sim, real, items=items, genres=GENRES, n_items=N_ITEMS, seed=seed)


def one_rating_each(values: dict[str, float]) -> Behaviour:
    users = sorted(values)
    return Behaviour(
        ratings=pl.DataFrame(
            [(u, 0, values[u], 0.0, 0) for u in users],
            schema=["user_id", "item_id", "rating", "t", "session"],
            orient="row",
        ),
        sessions=pl.DataFrame(
            [(u, 0, 0.0, 1) for u in users],
            schema=["user_id", "session", "start", "n_items"],
            orient="row",
        ),
        windows=pl.DataFrame([(u, 1.0) for u in users], schema=["user_id", "days"], orient="row"),
    )


def test_rows_have_fixed_names_and_order(items: pl.DataFrame) -> None:
    rows = run(random_behaviour(1, 30), random_behaviour(2, 30), items, seed=0)
    assert [(r.metric, r.distance_name) for r in rows] == ROWS
    for r in rows:
        assert math.isfinite(r.distance) and r.distance >= 0.0
        assert math.isfinite(r.floor) and r.floor > 0.0
        assert r.ratio == pytest.approx(r.distance / r.floor)


def test_known_answer_compares_disjoint_halves(items: pl.DataFrame) -> None:
    # Two users, so every split is {a} against {b}. The simulated a is held
    # against the real b and vice versa: |1 - 4| and |5 - 2|, so the distance
    # is 3, while the floor is |2 - 4| = 2, whichever way the split falls.
    # (All simulated against all real users would give W1({1, 5}, {2, 4}) = 1.)
    sim = one_rating_each({"a": 1.0, "b": 5.0})
    real = one_rating_each({"a": 2.0, "b": 4.0})
    for seed in range(4):
        rating = compare(
            sim, real, items=items, genres=GENRES, n_items=N_ITEMS, seed=seed, n_splits=3
        )[0]
        assert rating.metric == "rating"
        assert rating.distance == pytest.approx(3.0)
        assert rating.floor == pytest.approx(2.0)
        assert rating.ratio == pytest.approx(1.5)
        # The summaries are over everyone.
        assert rating.simulated == pytest.approx(3.0)
        assert rating.real == pytest.approx(3.0)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 25), st.integers(0, 2**32))
def test_compare_with_itself_gives_distance_equal_to_floor(
    data_seed: int, n_users: int, seed: int
) -> None:
    # With sim == real, d(sim[A], real[B]) is d(real[A], real[B]) itself, so
    # the distance is the floor, exactly, split by split.
    b = random_behaviour(data_seed, n_users)
    items = pl.DataFrame(
        {"item_id": list(range(N_ITEMS)), "genres": [[GENRES[i % 4]] for i in range(N_ITEMS)]},
        schema={"item_id": pl.Int64, "genres": pl.List(pl.String)},
    )
    for row in run(b, b, items, seed):
        assert row.simulated == row.real or (math.isnan(row.simulated) and math.isnan(row.real))
        if math.isnan(row.floor):  # e.g. no session gaps in so few users
            assert math.isnan(row.distance)
            continue
        assert row.distance == row.floor, row.metric
        if row.floor > 0:
            assert row.ratio == 1.0


def test_same_population_gives_distance_about_the_floor(items: pl.DataFrame) -> None:
    # Simulated and real users drawn independently from one process: a
    # simulated half against a real half is distributed like two real halves,
    # so over many populations the distances add up to about the floors.
    # (All simulated against all real users gives about 0.55-0.7 of the floor
    # on these metrics: a distance on twice the sample.)
    names = ["rating", "session_gap_hours", "sessions_per_day", "ratings_per_day", "genre_share"]
    distance = dict.fromkeys(names, 0.0)
    floor = dict.fromkeys(names, 0.0)
    for k in range(20):
        rows = run(random_behaviour(100 + k, 40), random_behaviour(200 + k, 40), items, seed=k)
        for row in rows:
            if row.metric in names:
                distance[row.metric] += row.distance
                floor[row.metric] += row.floor
    for name in names:
        assert 0.8 < distance[name] / floor[name] < 1.25, name


def test_split_is_deterministic_and_depends_on_seed(items: pl.DataFrame) -> None:
    sim, real = random_behaviour(3, 25), random_behaviour(4, 41)
    first = [r.as_dict() for r in run(sim, real, items, seed=11)]
    again = [r.as_dict() for r in run(sim, real, items, seed=11)]
    other = [r.as_dict() for r in run(sim, real, items, seed=12)]
    assert first == again
    assert [r["floor"] for r in first] != [r["floor"] for r in other]
    assert [r["distance"] for r in first] != [r["distance"] for r in other]
    # The summaries use everyone and do not depend on the seed.
    assert [(r["simulated"], r["real"]) for r in first] == [
        (r["simulated"], r["real"]) for r in other
    ]


def test_distance_and_floor_follow_the_split_protocol(items: pl.DataFrame) -> None:
    sim, real = random_behaviour(6, 12), random_behaviour(5, 21)
    seed, n_splits = 99, 3
    rows = compare(
        sim, real, items=items, genres=GENRES, n_items=N_ITEMS, seed=seed, n_splits=n_splits
    )
    users = np.array(sorted(set(sim.users()) | set(real.users())))
    assert users.size == 21
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    floors, distances, coverage_distances = [], [], []
    for _ in range(n_splits):
        order = rng.permutation(users.size)
        a, b = users[order[:10]].tolist(), users[order[10:]].tolist()
        sim_a, sim_b = rating_values(sim.subset(a)), rating_values(sim.subset(b))
        real_a, real_b = rating_values(real.subset(a)), rating_values(real.subset(b))
        floors.append(wasserstein(real_a, real_b))
        distances.append((wasserstein(sim_a, real_b) + wasserstein(sim_b, real_a)) / 2)
        coverage_distances.append(
            (
                abs(coverage(sim.subset(a), N_ITEMS) - coverage(real.subset(b), N_ITEMS))
                + abs(coverage(sim.subset(b), N_ITEMS) - coverage(real.subset(a), N_ITEMS))
            )
            / 2
        )
    assert rows[0].metric == "rating"
    assert rows[0].floor == pytest.approx(float(np.mean(floors)), abs=1e-12)
    assert rows[0].distance == pytest.approx(float(np.mean(distances)), abs=1e-12)
    assert rows[0].simulated == pytest.approx(float(rating_values(sim).mean()))
    assert rows[0].real == pytest.approx(float(rating_values(real).mean()))
    assert rows[7].metric == "coverage"
    assert rows[7].distance == pytest.approx(float(np.mean(coverage_distances)), abs=1e-12)
    assert rows[7].simulated == pytest.approx(coverage(sim, N_ITEMS))


def test_compare_leaves_global_rng_alone(items: pl.DataFrame) -> None:
    before = np.random.get_state(legacy=False)  # noqa: NPY002 - reading it, to check it
    run(random_behaviour(1, 12), random_behaviour(2, 12), items, seed=5)
    after = np.random.get_state(legacy=False)  # noqa: NPY002
    assert np.array_equal(before["state"]["key"], after["state"]["key"])
    assert before["state"]["pos"] == after["state"]["pos"]


def test_zero_floor_gives_nan_ratio(items: pl.DataFrame) -> None:
    # Every real user behaves identically, so any two halves are at distance 0.
    one = random_behaviour(8, 1)
    clones = [one.ratings.with_columns(pl.lit(f"u{k:03d}").alias("user_id")) for k in range(6)]
    real = Behaviour(
        ratings=pl.concat(clones),
        sessions=pl.concat(
            [one.sessions.with_columns(pl.lit(f"u{k:03d}").alias("user_id")) for k in range(6)]
        ),
        windows=pl.concat(
            [one.windows.with_columns(pl.lit(f"u{k:03d}").alias("user_id")) for k in range(6)]
        ),
    )
    rating = run(random_behaviour(9, 6), real, items, seed=0)[0]
    assert rating.floor == 0.0
    assert rating.distance > 0.0
    assert math.isnan(rating.ratio)
    assert rating.as_dict()["ratio"] is None


def test_single_user_has_no_distance_or_floor(items: pl.DataFrame) -> None:
    rows = run(random_behaviour(1, 1), random_behaviour(2, 1), items, seed=0)
    assert all(math.isnan(r.distance) and math.isnan(r.floor) for r in rows)
    assert all(math.isnan(r.ratio) for r in rows)
    assert rows[0].simulated == pytest.approx(float(rating_values(random_behaviour(1, 1)).mean()))


def test_as_dict_is_json_safe() -> None:
    row = ComparisonRow("rating", "wasserstein", 0.5, math.nan, math.inf, 3.5, 3.0)
    d = row.as_dict()
    assert d == {
        "metric": "rating",
        "distance_name": "wasserstein",
        "distance": 0.5,
        "floor": None,
        "ratio": None,
        "simulated": 3.5,
        "real": 3.0,
    }
    json.dumps(d, allow_nan=False)


def test_compare_needs_a_split(items: pl.DataFrame) -> None:
    b = random_behaviour(1, 4)
    with pytest.raises(ValueError, match="n_splits"):
        compare(b, b, items=items, genres=GENRES, n_items=N_ITEMS, seed=0, n_splits=0)


def test_package_reexports_public_names() -> None:
    # Load the package's __init__ by file, since an editable install may expose
    # `analysis` as a namespace package that skips it.
    module = importlib.import_module("analysis.__init__")
    for name in module.__all__:
        home = importlib.import_module(f"analysis.{module._HOMES[name]}")
        assert getattr(module, name) is getattr(home, name), name
    assert module.compare is compare
    assert module.Behaviour is Behaviour
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = module.nonsense
