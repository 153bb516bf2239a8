"""Personas built from real users' train histories, and the guard against held-out leakage."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from personas.builder import build_personas, persona_id
from personas.datasets import Dataset, Split, data_root, load_dataset, sessionize, temporal_split
from personas.schema import Persona
from personas.taste import TasteSpace, fit_taste_space

HOLDOUT, MIN_TRAIN, DIMS = 0.2, 5, 8
LABEL = f"temporal holdout={HOLDOUT} min_train={MIN_TRAIN}"
DAY = 86400.0


@dataclass(frozen=True)
class Built:
    dataset: Dataset
    split: Split
    space: TasteSpace
    users: list[int]
    personas: list[Persona]


def build(dataset: Dataset, ratings: pl.DataFrame, users: list[int]) -> Built:
    split = temporal_split(ratings, HOLDOUT, MIN_TRAIN)
    space = fit_taste_space(split.train, dataset.items["item_id"].to_numpy(), dims=DIMS)
    personas = build_personas(dataset, split.train, users, space=space, split_label=LABEL)
    return Built(dataset, split, space, users, personas)


@pytest.fixture(scope="module")
def small() -> Built:
    dataset = load_dataset("ml-latest-small")
    # 30 users spread over the id range, passed unsorted and with a duplicate.
    every = dataset.ratings["user_id"].unique().sort().to_list()[::20][:30]
    users = [*reversed(every), every[0]]
    return build(dataset, dataset.ratings, users)


def user_rows(frame: pl.DataFrame, uid: int) -> pl.DataFrame:
    return frame.filter(pl.col("user_id") == uid)


def test_one_persona_per_user_in_user_order(small: Built) -> None:
    wanted = sorted(set(small.users))
    assert len(wanted) == 30
    assert [p.provenance.user_id for p in small.personas] == wanted
    assert [p.id for p in small.personas] == [persona_id(small.dataset, u) for u in wanted]
    assert len({p.id for p in small.personas}) == 30


def test_every_persona_validates_and_carries_its_provenance(small: Built) -> None:
    ds, train = small.dataset, small.split.train
    for p in small.personas:
        assert Persona.model_validate(p.model_dump()) == p
        uid = p.provenance.user_id
        assert uid is not None
        rows = user_rows(train, uid)
        assert p.provenance.source == "dataset"
        assert p.provenance.dataset == ds.name == "ml-latest-small"
        assert p.provenance.dataset_sha256 == ds.content_sha256
        assert p.provenance.split == LABEL
        assert p.provenance.n_train == rows.height
        assert p.provenance.train_until == rows["timestamp"].max()
        assert p.target_user == str(uid)
        assert p.taste.factor_space == small.space.id
        expected = tuple(round(float(x), 6) for x in small.space.user_vector(uid))
        assert p.taste.factors == expected
        assert len(p.taste.factors) == DIMS


def test_traits_and_taste_within_bounds(small: Built) -> None:
    genres = set(small.dataset.genres)
    for p in small.personas:
        t = p.traits
        assert 0 < t.sessions_per_day <= 24
        assert t.items_per_session >= 1
        assert 0 < t.conformity <= 1
        assert 0 <= t.diversity <= 1
        assert 0.05 <= t.patience <= 1
        assert p.rating.spread >= 0.1
        low, high = small.dataset.rating_scale.low, small.dataset.rating_scale.high
        assert low <= p.rating.mean <= high
        assert p.taste.genre_affinity, p.id
        assert set(p.taste.genre_affinity) <= genres
        assert all(math.isfinite(a) for a in p.taste.genre_affinity.values())
    # The personas are not all alike: traits really come from each user's history.
    assert len({p.traits.diversity for p in small.personas}) > 20
    assert len({p.rating.mean for p in small.personas}) > 20


def test_rating_style_matches_hand_computation(small: Built) -> None:
    train = small.split.train
    global_mean = float(np.mean(train["rating"].to_numpy()))
    for p in small.personas[:5]:
        assert p.provenance.user_id is not None
        ratings = user_rows(train, p.provenance.user_id)["rating"].to_numpy()
        mean = float(np.mean(ratings))
        spread = float(np.sqrt(np.mean((ratings - mean) ** 2)))  # population std
        assert spread > 0.1
        assert p.rating.mean == pytest.approx(mean, abs=1e-12)
        assert p.rating.spread == pytest.approx(spread, abs=1e-12)
        assert p.rating.bias == pytest.approx(mean - global_mean, abs=1e-12)


def hand_sessions(train: pl.DataFrame, uid: int) -> tuple[float, float, float]:
    """sessions_per_day, items_per_session and the raw span in days, counted by hand."""
    rows = user_rows(sessionize(train), uid)
    n_sessions = len(set(rows["session"].to_list()))
    stamps = rows["timestamp"].to_list()
    raw_span = (max(stamps) - min(stamps)) / DAY
    return n_sessions / max(raw_span, 1.0), rows.height / n_sessions, raw_span


def test_session_traits_match_hand_computation(small: Built) -> None:
    spans = []
    for p in small.personas:
        assert p.provenance.user_id is not None
        per_day, per_session, raw_span = hand_sessions(small.split.train, p.provenance.user_id)
        spans.append(raw_span)
        assert p.traits.sessions_per_day == pytest.approx(min(per_day, 24.0), rel=1e-12)
        assert p.traits.items_per_session == pytest.approx(per_session, rel=1e-12)
    # Both sides of the one-day clamp were exercised.
    assert min(spans) < 1.0 < max(spans)


def test_session_traits_of_a_short_history_use_a_one_day_span(small: Built) -> None:
    # Three ratings in one hour form one session: 1 session over a span clamped to 1 day.
    # Another user is kept so the global mean differs from this user's mean.
    frame = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2],
            "item_id": [1, 2, 3, 1, 2],
            "rating": [4.0, 5.0, 3.0, 1.0, 2.0],
            "timestamp": [0, 600, 1200, 0, 10 * 86400],
        }
    )
    space = fit_taste_space(frame, small.dataset.items["item_id"].to_numpy(), dims=2)
    one, two = build_personas(small.dataset, frame, [1, 2], space=space, split_label=LABEL)
    assert one.traits.sessions_per_day == 1.0
    assert one.traits.items_per_session == 3.0
    assert one.rating.mean == 4.0
    assert one.rating.bias == pytest.approx(4.0 - 3.0)
    assert two.traits.sessions_per_day == pytest.approx(2 / 10)
    assert two.traits.items_per_session == 1.0


# ---------------------------------------------------------------------------
# Leakage guard: held-out rows never shape a persona


def alter_heldout(built: Built, move: bool) -> pl.DataFrame:
    """The ratings with every held-out row's rating changed.

    With ``move``, every held-out row also gets another item and a later timestamp;
    the shift keeps held-out rows each user's latest, and strictly so, so that a
    new item id cannot reorder a held-out row before a train row at a tied timestamp.
    """
    scale = built.dataset.rating_scale
    catalogue = np.sort(built.dataset.items["item_id"].to_numpy())
    held = built.split.heldout
    changed = held.with_columns((scale.low + scale.high - pl.col("rating")).alias("rating"))
    if move:
        index = np.searchsorted(catalogue, held["item_id"].to_numpy())
        changed = changed.with_columns(
            pl.Series("item_id", catalogue[(index + 7) % len(catalogue)]),
            pl.col("timestamp") + 365 * 86400,
        )
    return pl.concat([built.split.train, changed]).sample(fraction=1.0, shuffle=True, seed=3)


@pytest.mark.parametrize("move", [False, True], ids=["ratings", "ratings+items+times"])
def test_heldout_rows_do_not_change_any_persona(small: Built, move: bool) -> None:
    altered = alter_heldout(small, move)
    other_dataset = dataclasses.replace(small.dataset, ratings=altered)
    other = build(other_dataset, altered, small.users)

    # The alteration is real: every held-out row differs, and the train rows are the same.
    old, new = small.split.heldout, other.split.heldout
    assert new.height == old.height > 0
    assert (new["rating"] != old["rating"]).all()
    if move:
        assert (new["item_id"] != old["item_id"]).all()
    assert_frame_equal(other.split.train, small.split.train)

    assert other.space.id == small.space.id
    assert np.array_equal(other.space.user_factors, small.space.user_factors)
    assert np.array_equal(other.space.item_factors, small.space.item_factors)
    assert len(other.personas) == len(small.personas)
    for theirs, mine in zip(other.personas, small.personas, strict=True):
        # Only the digest of the whole dataset (held-out rows included) may differ.
        a, b = theirs.model_dump(), mine.model_dump()
        assert a["provenance"].pop("dataset_sha256") == other_dataset.content_sha256
        b["provenance"].pop("dataset_sha256")
        assert a == b, mine.id


def test_the_guard_would_see_a_leak(small: Built) -> None:
    """Building from train plus the altered held-out rows changes the personas."""
    leaky = alter_heldout(small, move=True)
    space = fit_taste_space(leaky, small.dataset.items["item_id"].to_numpy(), dims=DIMS)
    personas = build_personas(small.dataset, leaky, small.users, space=space, split_label=LABEL)
    assert space.id != small.space.id
    for mine, theirs in zip(personas, small.personas, strict=True):
        assert mine.rating != theirs.rating
        assert mine.provenance.n_train != theirs.provenance.n_train


def test_n_train_and_train_until_stop_before_heldout(small: Built) -> None:
    train, held, everything = small.split.train, small.split.heldout, small.dataset.ratings
    for p in small.personas:
        uid = p.provenance.user_id
        assert uid is not None
        assert p.provenance.n_train is not None
        assert p.provenance.train_until is not None
        own_held = user_rows(held, uid)
        assert own_held.height > 0
        assert p.provenance.n_train == user_rows(train, uid).height
        assert p.provenance.n_train + own_held.height == user_rows(everything, uid).height
        assert p.provenance.train_until <= own_held["timestamp"].min()


# ---------------------------------------------------------------------------
# Determinism and errors


def test_building_twice_gives_equal_personas(small: Built) -> None:
    again = build_personas(
        small.dataset, small.split.train, small.users, space=small.space, split_label=LABEL
    )
    assert [p.model_dump() for p in again] == [p.model_dump() for p in small.personas]
    # Same order of genres too, so that saved persona files are byte-for-byte stable.
    assert [list(p.taste.genre_affinity) for p in again] == [
        list(p.taste.genre_affinity) for p in small.personas
    ]


def test_fitting_twice_gives_identical_factors(small: Built) -> None:
    items = small.dataset.items["item_id"].to_numpy()
    first = fit_taste_space(small.split.train, items, dims=DIMS)
    second = fit_taste_space(small.split.train.reverse(), items, dims=DIMS)
    third = fit_taste_space(small.split.train, items, dims=DIMS)
    assert first.id == third.id == small.space.id
    assert np.array_equal(first.user_factors, third.user_factors)
    assert np.array_equal(first.item_factors, third.item_factors)
    assert np.array_equal(first.user_ids, second.user_ids)
    assert np.allclose(first.user_factors, second.user_factors, atol=1e-9)
    assert np.any(first.user_factors != 0)


def test_user_without_train_ratings_raises(small: Built) -> None:
    train = small.split.train
    absent = int(train["user_id"].max()) + 1000  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without train ratings"):
        build_personas(small.dataset, train, [1, absent], space=small.space, split_label=LABEL)
    without_one = train.filter(pl.col("user_id") != 1)
    with pytest.raises(ValueError, match=r"without train ratings.*\[1\]"):
        build_personas(small.dataset, without_one, [1, 2], space=small.space, split_label=LABEL)


# ---------------------------------------------------------------------------
# ML-100K demographics


def ml100k_folder() -> str | None:
    root = data_root()
    if root is None or not (root / "ml-100k" / "u.user").is_file():
        return None
    return str(root / "ml-100k")


@pytest.mark.skipif(ml100k_folder() is None, reason="needs SIMFOLK_DATA holding ml-100k/")
def test_ml100k_personas_carry_demographics() -> None:
    folder = ml100k_folder()
    assert folder is not None
    dataset = load_dataset("ml-100k")
    wanted = [1, 2, 13, 405, 943]
    from_file = {}
    with open(f"{folder}/u.user", encoding="latin-1") as handle:
        for line in handle:
            uid, age, gender, occupation, _zip = line.rstrip("\n").split("|")
            if int(uid) in wanted:
                from_file[int(uid)] = (int(age), gender, occupation)
    assert sorted(from_file) == wanted
    built = build(dataset, dataset.ratings, wanted)
    assert [p.provenance.user_id for p in built.personas] == wanted
    for p in built.personas:
        assert p.provenance.user_id is not None
        d = p.demographics
        assert (d.age, d.gender, d.occupation) == from_file[p.provenance.user_id]
        assert p.provenance.dataset == "ml-100k"
        assert p.provenance.dataset_sha256 == dataset.content_sha256
