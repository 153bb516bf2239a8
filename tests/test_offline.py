import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.offline import OFFLINE_METRICS, heldout_items, offline_scores, ranking_scores
from simulator.core.rng import Streams
from simulator.domains.recsys.targets import make_target


def test_ranking_scores_by_hand():
    # Hits at ranks 1 and 3 of 3 relevant items, k = 4.
    hit, recall, ndcg = ranking_scores([7, 1, 8, 2], {7, 8, 9}, k=4)
    assert hit == 1.0
    assert recall == pytest.approx(2 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    assert ranking_scores([1, 2], {9}, k=2) == (0.0, 0.0, 0.0)


@given(
    ranked=st.lists(st.integers(0, 30), unique=True, max_size=15),
    relevant=st.sets(st.integers(0, 30), min_size=1, max_size=20),
    k=st.integers(1, 12),
)
def test_ranking_scores_are_shares(ranked, relevant, k):
    hit, recall, ndcg = ranking_scores(ranked, relevant, k)
    assert 0.0 <= recall <= hit <= 1.0
    assert 0.0 <= ndcg <= 1.0 + 1e-12
    assert (hit == 0.0) == (ndcg == 0.0)
    perfect = sorted(relevant)[:k]
    assert ranking_scores(perfect, relevant, k)[2] == pytest.approx(1.0)


def test_ranking_scores_refuse_an_empty_relevant_set():
    with pytest.raises(ValueError, match="relevant"):
        ranking_scores([1], set(), 10)
    with pytest.raises(ValueError, match="k must"):
        ranking_scores([1], {1}, 0)


class _Oracle:
    """Recommends each user's held-out items: the best any arm could do."""

    name = "oracle"

    def __init__(self, items):
        self.items = items

    def recommend(self, user, k, context):
        return sorted(self.items.get(user, ()))[:k]


def test_offline_scores_rank_an_oracle_above_a_real_arm(prepared, train):
    heldout = heldout_items(prepared.split.heldout)
    users = [*sorted(heldout)[:20], "no-heldout"]
    best = offline_scores(_Oracle(heldout), heldout, users, k=10)
    assert best.columns == ["user", *OFFLINE_METRICS]
    assert best["user"].to_list() == users
    assert best.filter(pl.col("user") == "no-heldout")["ndcg"].to_list() == [None]
    assert best["ndcg"].drop_nulls().to_list() == pytest.approx([1.0] * 20)
    popularity = make_target("popularity", prepared.catalog, Streams(0))
    popularity.fit(train)
    real = offline_scores(popularity, heldout, users, k=10)
    assert np.nanmean(real["ndcg"].to_numpy()) < 1.0
    assert real["hit_rate"].drop_nulls().is_in([0.0, 1.0]).all()
