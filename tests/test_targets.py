import numpy as np
import polars as pl
import pytest

from simulator.core.rng import Streams
from simulator.domains.recsys.interfaces import Interaction, RecContext
from simulator.domains.recsys.targets import make_target, target_names

NAMES = list(target_names())


@pytest.fixture(scope="module")
def fitted(prepared, train):
    targets = {}
    for name in NAMES:
        target = make_target(name, prepared.catalog, Streams(5))
        target.fit(train)
        targets[name] = target
    return targets


def _context(exclude=()):
    return RecContext(t=0.0, session=0, page=0, exclude=frozenset(exclude))


def test_registry_lists_the_builtins_and_says_the_fix(prepared):
    assert {"random", "popularity", "itemknn", "als", "bpr", "lmf", "puresvd"} <= set(NAMES)
    assert len(NAMES) >= 8
    with pytest.raises(ValueError, match=r"choose one of: als, .*itemknn, .*random"):
        make_target("bogus", prepared.catalog, Streams(0))


@pytest.mark.parametrize("name", NAMES)
def test_recommends_k_unseen_catalogue_items(fitted, train, prepared, name):
    target = fitted[name]
    user = train["user"][0]
    history = set(train.filter(pl.col("user") == user)["item_id"].to_list())
    shown = prepared.catalog.item_ids[:5].tolist()
    slate = target.recommend(user, 10, _context(shown))
    assert len(slate) == 10 == len(set(slate))
    assert not set(slate) & (history | set(shown))
    assert set(slate) <= set(prepared.catalog.item_ids.tolist())


@pytest.mark.parametrize("name", NAMES)
def test_feedback_removes_consumed_items(fitted, train, name):
    target = fitted[name]
    user = train["user"][1]
    first = target.recommend(user, 5, _context())
    target.feedback(Interaction(user=user, item_id=first[0], kind="rate", t=1.0, rating=5.0))
    assert first[0] not in target.recommend(user, 5, _context())


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_gives_the_same_recommendations(fitted, train, prepared, name):
    target = fitted[name]
    clone = make_target(name, prepared.catalog, Streams(99))
    clone.set_state(target.get_state())
    for user in train["user"].unique(maintain_order=True).to_list()[:5]:
        assert clone.recommend(user, 10, _context()) == target.recommend(user, 10, _context())


def test_popularity_ranks_by_count(prepared, train):
    target = make_target("popularity", prepared.catalog, Streams(0))
    target.fit(train)
    slate = target.recommend("a-new-user", 10, _context())
    counts = train.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    assert slate == counts["item_id"][:10].to_list()


def test_itemknn_follows_the_history(prepared, train):
    target = make_target("itemknn", prepared.catalog, Streams(0))
    target.fit(train)
    cold = target.recommend("cold", 10, _context())
    item = cold[0]
    target.feedback(Interaction(user="cold", item_id=item, kind="click", t=0.0))
    after = target.recommend("cold", 10, _context())
    row = prepared.catalog.index([item])[0]
    neighbours = set(prepared.catalog.item_ids[target.similarity[row].indices].tolist())
    assert set(after) <= neighbours | set(cold)
    assert set(after) & neighbours


def test_als_fit_is_reproducible(prepared, train):
    a = make_target("als", prepared.catalog, Streams(1))
    b = make_target("als", prepared.catalog, Streams(1))
    a.fit(train)
    b.fit(train)
    assert np.array_equal(a.get_state()["item_factors"], b.get_state()["item_factors"])


def test_random_target_draws_per_user(prepared, train):
    alone = make_target("random", prepared.catalog, Streams(2))
    crowded = make_target("random", prepared.catalog, Streams(2))
    alone.fit(train)
    crowded.fit(train)
    for other in ("x1", "x2", "x3"):
        crowded.recommend(other, 10, _context())
    assert alone.recommend("me", 10, _context()) == crowded.recommend("me", 10, _context())


@pytest.mark.parametrize("name", NAMES)
def test_every_arm_is_named_as_registered(fitted, name):
    assert fitted[name].name == name


@pytest.mark.parametrize("name", ["als", "bpr", "lmf", "puresvd", "itemknn-k10"])
def test_factor_fits_are_reproducible(prepared, train, name):
    a, b = (make_target(name, prepared.catalog, Streams(1)) for _ in range(2))
    a.fit(train)
    b.fit(train)
    user = train["user"][3]
    assert a.recommend(user, 10, _context()) == b.recommend(user, 10, _context())


@pytest.mark.parametrize("name", ["bpr", "lmf", "puresvd"])
def test_a_user_the_fit_never_saw_gets_the_popular_items(fitted, train, prepared, name):
    popular = fitted["popularity"].recommend("never-seen", 10, _context())
    assert fitted[name].recommend("never-seen", 10, _context()) == popular


def test_puresvd_follows_a_click_at_once(prepared, train):
    target = make_target("puresvd", prepared.catalog, Streams(0))
    target.fit(train)
    user = train["user"][0]
    before = target.recommend(user, 10, _context())
    # Another user's whole history pulls the next page towards it.
    other = train.group_by("user").len().sort(["len", "user"], descending=[True, False])["user"][0]
    theirs = set(train.filter(pl.col("user") == other)["item_id"].to_list())
    for item in sorted(theirs - target.history.of(user)):
        target.feedback(Interaction(user=user, item_id=item, kind="click", t=0.0))
    assert target.recommend(user, 10, _context()) != before


def test_recent_popularity_counts_the_window_before_the_end(prepared, train):
    target = make_target("popularity-recent", prepared.catalog, Streams(0))
    target.fit(train)
    end = train["t"].max()
    recent = train.filter(pl.col("t") > end - 30 * 86400.0)
    top = recent.group_by("item_id").len().sort(["len", "item_id"], descending=[True, False])
    assert target.recommend("a-new-user", 1, _context()) == top["item_id"][:1].to_list()
    # A refit on more interactions keeps the window; ratings heard count on top of it.
    item = int(top["item_id"][1])
    for _ in range(1000):
        target.feedback(Interaction(user="u", item_id=item, kind="rate", t=1.0, rating=4.0))
    target.fit(train)
    assert target.recommend("a-new-user", 1, _context()) == [item]


def test_newest_shows_the_latest_releases_first(fitted, prepared):
    slate = fitted["newest"].recommend("a-new-user", 5, _context())
    years = [y for y in prepared.catalog.years if y is not None]
    rows = prepared.catalog.index(slate)
    assert all(prepared.catalog.years[r] is not None for r in rows)
    assert min(prepared.catalog.years[r] for r in rows) > max(years) - 2  # type: ignore[operator]


def test_genre_arm_matches_the_users_genres(prepared, train):
    target = make_target("genre", prepared.catalog, Streams(0))
    target.fit(train)
    catalog = prepared.catalog
    user = train["user"][0]
    profile = catalog.genre_matrix[catalog.index(sorted(target.history.of(user)))].mean(axis=0)
    slate = target.recommend(user, 10, _context())
    shown = catalog.genre_matrix[catalog.index(slate)] @ profile
    assert shown.mean() > (catalog.genre_matrix @ profile).mean()
