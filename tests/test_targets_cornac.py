"""Cornac's rating models as arms: scored as cornac scores, reproducible, optional."""

import sys

import numpy as np
import polars as pl
import pytest

from simulator.core.rng import Streams
from simulator.domains.recsys.interfaces import RecContext
from simulator.domains.recsys.targets import make_target
from simulator.domains.recsys.targets.cornac_models import CornacRecommender, _ratings

cornac = pytest.importorskip("cornac")


def _context():
    return RecContext(t=0.0, session=0, page=0, exclude=frozenset())


@pytest.mark.parametrize("kind", ["mf", "nmf"])
def test_pages_rank_items_as_cornac_scores_them(prepared, train, kind):
    # The same fit, asked through cornac's own scorer: our numpy scoring must agree.
    params = {"k": 8, "max_iter": 10} | ({"use_bias": True} if kind == "nmf" else {})
    target = CornacRecommender(prepared.catalog, 7, kind, **params)
    target.fit(train)
    table = _ratings(train)
    rows = zip(table["user"], table["item_id"].cast(pl.Utf8), table["rating"], strict=True)
    data = cornac.data.Dataset.from_uir(list(rows), seed=7)
    model = getattr(cornac.models, kind.upper())(**params, seed=7, num_threads=1)
    model.fit(data)
    user = train["user"][0]
    u = data.uid_map[user]
    if kind == "mf":
        theirs = np.asarray(model.score(u))
    else:  # cornac 3.0.1's NMF.score fails on its own float64 arrays; its formula, then
        theirs = model.i_factors @ model.u_factors[u] + model.i_biases + model.u_biases[u]
        theirs = theirs + model.global_mean
    ids = np.array([int(i) for i in data.iid_map], dtype=np.int64)
    ours = (
        target.item_factors @ target.user_factors[np.searchsorted(target.users, user)]
        + target.item_bias
        + target.user_bias[np.searchsorted(target.users, user)]
    )[prepared.catalog.index(ids)]
    np.testing.assert_allclose(ours, theirs[list(data.iid_map.values())], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["cornac-mf", "cornac-nmf"])
def test_fits_are_reproducible_and_new_users_get_the_popular_items(prepared, train, name):
    a, b = (make_target(name, prepared.catalog, Streams(1)) for _ in range(2))
    a.fit(train)
    b.fit(train)
    user = train["user"][3]
    assert a.recommend(user, 10, _context()) == b.recommend(user, 10, _context())
    popular = make_target("popularity", prepared.catalog, Streams(0))
    popular.fit(train)
    assert a.recommend("never-seen", 10, _context()) == popular.recommend(
        "never-seen", 10, _context()
    )


def test_an_item_no_one_rated_in_train_is_never_shown(prepared, train):
    unrated = sorted(set(prepared.catalog.item_ids.tolist()) - set(train["item_id"].to_list()))
    assert unrated, "the fixture's train split leaves some items unrated"
    target = make_target("cornac-mf", prepared.catalog, Streams(1))
    target.fit(train)
    for user in train["user"].unique(maintain_order=True).to_list()[:20]:
        assert not set(target.recommend(user, 50, _context())) & set(unrated)


def test_implicit_only_logs_fit_on_log_counts():
    plays = pl.DataFrame(
        {
            "user": ["a", "a", "a", "b"],
            "item_id": [1, 1, 2, 1],
            "rating": [None, None, None, 4.0],
            "t": [0.0, 1.0, 2.0, 0.0],
        },
        schema_overrides={"rating": pl.Float64},
    )
    table = _ratings(plays).sort(["user", "item_id"])
    assert table["rating"].to_list() == pytest.approx([np.log(3), np.log(2), 4.0])
    # With play counts (the interactions a run passes), a pair weighs log(1 + its plays).
    counted = plays.with_columns(pl.Series("count", [30, 2, None, None], dtype=pl.Int64))
    table = _ratings(counted).sort(["user", "item_id"])
    assert table["rating"].to_list() == pytest.approx([np.log(33), np.log(2), 4.0])


def test_als_is_as_confident_as_the_rating_or_the_plays():
    from simulator.domains.recsys.targets.factorization import confidence

    rows = pl.DataFrame(
        {"rating": [4.0, None, None], "count": [None, 12, None]},
        schema={"rating": pl.Float64, "count": pl.Int64},
    )
    assert confidence(rows).tolist() == pytest.approx([4.0, np.log(13), 1.0])
    assert confidence(rows.drop("count")).tolist() == pytest.approx([4.0, 1.0, 1.0])


def test_without_cornac_the_arm_says_what_to_install(prepared, monkeypatch):
    monkeypatch.setitem(sys.modules, "cornac", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r"simfolk\[cornac\]"):
        make_target("cornac-mf", prepared.catalog, Streams(0))
