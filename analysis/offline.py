"""Offline evaluation of a recommender: its top-k against each user's held-out items.

This is the "real" side of the validity bench: how well an arm predicts what
people actually went on to consume, with no simulated person involved. The
recommender is fitted on train, so it excludes what the user consumed there,
and ranks the rest; the held-out items are the relevant set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from simulator.domains.recsys.interfaces import RecContext, Recommender

OFFLINE_METRICS = ("hit_rate", "recall", "ndcg")


def ranking_scores(ranked: Sequence[int], relevant: set[int], k: int) -> tuple[float, float, float]:
    """Hit rate, recall and binary NDCG of one top-k list.

    Args:
        ranked: The recommended items, best first (only the first ``k`` count).
        relevant: The items the user went on to consume; not empty.
        k: The cut-off.

    Returns:
        ``(hit, recall, ndcg)``: 1.0 if any of the top k is relevant, the share
        of the relevant items in the top k, and DCG over the ideal DCG of
        ``min(k, |relevant|)`` hits.

    Raises:
        ValueError: If ``relevant`` is empty or ``k`` below 1.
    """
    if not relevant:
        raise ValueError("ranking_scores needs at least one relevant item")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    hits = np.array([item in relevant for item in ranked[:k]], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(k, len(relevant))].sum()
    ndcg = hits @ discounts[: len(hits)] / ideal
    return float(hits.any()), float(hits.sum() / len(relevant)), float(ndcg)


def offline_scores(
    target: Recommender,
    heldout: Mapping[str, set[int]],
    users: Sequence[str],
    k: int = 10,
) -> pl.DataFrame:
    """Each user's offline metrics under a fitted recommender.

    Args:
        target: A recommender fitted on train.
        heldout: User to the items of their held-out period.
        users: The users to score, in the order of the result; a user without
            held-out items gets nulls (they have nothing to predict).
        k: The cut-off.

    Returns:
        Columns ``user`` (String) and one Float64 column per :data:`OFFLINE_METRICS`.
    """
    context = RecContext(t=0.0, session=0, page=0, exclude=frozenset())
    rows: list[tuple[float | None, ...]] = []
    for user in users:
        relevant = heldout.get(user)
        if not relevant:
            rows.append((None, None, None))
            continue
        rows.append(ranking_scores(target.recommend(user, k, context), relevant, k))
    frame = pl.DataFrame(rows, schema=dict.fromkeys(OFFLINE_METRICS, pl.Float64), orient="row")
    return frame.insert_column(0, pl.Series("user", list(users), dtype=pl.String))


def heldout_items(heldout: pl.DataFrame) -> dict[str, set[int]]:
    """A split's held-out ratings as user (the target's key) to their items."""
    return {
        str(uid): set(frame["item_id"].to_list())
        for (uid,), frame in heldout.partition_by("user_id", as_dict=True).items()
    }
