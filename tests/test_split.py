"""Per-user temporal split: properties and the holdout rule."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from personas.datasets import Split, temporal_split

SCHEMA = {"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64}
KEYS = ["user_id", "timestamp", "item_id"]
EVERYTHING = [*KEYS, "rating"]


def frame(rows: list[tuple[int, int, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


ratings = st.lists(
    st.tuples(
        st.integers(1, 5),
        st.integers(1, 12),
        st.sampled_from([1.0, 2.5, 4.0, 5.0]),
        st.integers(0, 40),  # a narrow range so ties on timestamp are common
    ),
    max_size=80,
).map(frame)
holdouts = st.floats(0.01, 0.99) | st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.5, 0.7])


def expected_heldout(n: int, holdout: float, min_train: int) -> int:
    """The rule: ceil(n * holdout) held out, never leaving fewer than min_train in train.

    The 1e-9 absorbs float products a hair above a whole number (10 * 0.3).
    """
    if n <= min_train:
        return 0
    return min(math.ceil(n * holdout - 1e-9), n - min_train)


@settings(max_examples=60, deadline=None)
@given(df=ratings, holdout=holdouts, min_train=st.integers(1, 8), data=st.data())
def test_split_properties(
    df: pl.DataFrame, holdout: float, min_train: int, data: st.DataObject
) -> None:
    split = temporal_split(df, holdout=holdout, min_train=min_train)
    assert isinstance(split, Split)
    assert (split.holdout, split.min_train) == (holdout, min_train)
    assert split.train.schema == df.schema and split.heldout.schema == df.schema

    # train and heldout together are the input, as multisets
    together = pl.concat([split.train, split.heldout]).sort(EVERYTHING)
    assert_frame_equal(together, df.sort(EVERYTHING))

    for part in (split.train, split.heldout):
        assert_frame_equal(part.select(KEYS), part.select(KEYS).sort(KEYS))

    counts = df.group_by("user_id").len()
    for user_id, n in counts.iter_rows():
        train = split.train.filter(pl.col("user_id") == user_id)
        held = split.heldout.filter(pl.col("user_id") == user_id)
        assert held.height == expected_heldout(n, holdout, min_train)
        assert train.height >= min(n, min_train)
        if held.height and train.height:
            last_train = max(train.select("timestamp", "item_id").iter_rows())
            first_held = min(held.select("timestamp", "item_id").iter_rows())
            assert first_held >= last_train

    # deterministic, whatever the input's row order
    order = data.draw(st.permutations(range(df.height)))
    again = temporal_split(df[list(order)], holdout=holdout, min_train=min_train)
    assert_frame_equal(again.train, split.train)
    assert_frame_equal(again.heldout, split.heldout)


@pytest.mark.parametrize(
    ("n", "holdout", "min_train", "held"),
    [
        (10, 0.3, 5, 3),  # 10 * 0.3 is 3.0000000000000004 in floats
        (10, 0.1, 5, 1),
        (10, 0.25, 5, 3),  # ceil(2.5)
        (10, 0.2, 1, 2),
        (6, 0.5, 5, 1),  # would be 3, but 5 must stay in train
        (5, 0.9, 5, 0),  # n <= min_train: all in train
        (1, 0.5, 1, 0),
        (2, 0.01, 1, 1),
    ],
)
def test_holdout_rule_examples(n: int, holdout: float, min_train: int, held: int) -> None:
    df = frame([(7, n - i, 3.0, 100 + i) for i in range(n)])
    split = temporal_split(df, holdout=holdout, min_train=min_train)
    assert split.heldout.height == held
    assert split.heldout["timestamp"].to_list() == list(range(100 + n - held, 100 + n))


def test_timestamp_ties_are_broken_by_item_id() -> None:
    df = frame([(1, item, 4.0, 50) for item in (9, 3, 7, 1, 5, 2)])
    split = temporal_split(df, holdout=0.5, min_train=1)
    assert split.train["item_id"].to_list() == [1, 2, 3]
    assert split.heldout["item_id"].to_list() == [5, 7, 9]


def test_empty_frame() -> None:
    split = temporal_split(frame([]))
    assert split.train.height == 0 and split.heldout.height == 0


@pytest.mark.parametrize("holdout", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_bad_holdout(holdout: float) -> None:
    with pytest.raises(ValueError, match="holdout"):
        temporal_split(frame([(1, 1, 3.0, 1)]), holdout=holdout)


@pytest.mark.parametrize("min_train", [0, -1])
def test_bad_min_train(min_train: int) -> None:
    with pytest.raises(ValueError, match="min_train"):
        temporal_split(frame([(1, 1, 3.0, 1)]), min_train=min_train)


def test_missing_column() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        temporal_split(pl.DataFrame({"user_id": [1], "item_id": [2]}))
