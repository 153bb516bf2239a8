"""What each user has consumed, as a recommender keeps it, and top-k with exclusions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from simulator.domains.recsys.catalog import Catalog

_CHUNK = 16  # entries per chunk whose minimum bounds a row's top k


class UserHistory:
    """Consumed items per user, updated by fit and by feedback."""

    def __init__(self) -> None:
        self.items: dict[str, set[int]] = {}

    def reset(self, interactions: pl.DataFrame) -> None:
        """Replace everything with the users' items in `interactions`."""
        # Grouped by polars, so a million users' histories cost one set each, not a loop
        # over every interaction.
        grouped = interactions.group_by("user").agg(pl.col("item_id").unique())
        self.items = {
            user: set(items)
            for user, items in zip(grouped["user"].to_list(), grouped["item_id"].to_list(),
                                   strict=True)
        }  # fmt: skip

    def add(self, user: str, item_id: int) -> None:
        """Record one consumed item."""
        self.items.setdefault(user, set()).add(item_id)

    def add_many(self, users: Iterable[str], item_ids: Iterable[int]) -> None:
        """Record many consumed items, `add` for each pair."""
        items = self.items
        for user, item in zip(users, item_ids, strict=True):
            if (held := items.get(user)) is None:
                items[user] = {item}
            else:
                held.add(item)

    def of(self, user: str) -> set[int]:
        """The user's items (empty for a user never seen)."""
        return self.items.get(user, set())

    def get_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint: three arrays, so a million users encode in a blink."""
        users = list(self.items)
        lists = [sorted(self.items[u]) for u in users]
        return {
            "users": np.array(users, dtype=str),
            "sizes": np.array([len(x) for x in lists], dtype=np.int64),
            "items": np.array([i for x in lists for i in x], dtype=np.int64),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        ends = np.cumsum(state["sizes"])
        items = state["items"].tolist()
        self.items = {
            str(user): set(items[end - size : end])
            for user, size, end in zip(state["users"], state["sizes"], ends, strict=True)
        }


def fitted_row(users: np.ndarray, user: str) -> int | None:
    """The user's row among a fit's sorted `users`, or None for a user the fit never saw."""
    row = int(np.searchsorted(users, user))
    return row if row < len(users) and users[row] == user else None


def top_k(scores: np.ndarray, catalog: Catalog, exclude: Iterable[int], k: int) -> list[int]:
    """The k best-scoring item ids not excluded; ties go to the lower item id."""
    scores = np.array(scores, dtype=np.float64)
    excluded = [i for i in exclude]
    if excluded:
        rows = np.searchsorted(catalog.item_ids, np.array(excluded, dtype=np.int64))
        rows = rows[rows < len(catalog)]
        scores[rows] = -np.inf
    available = int(np.isfinite(scores).sum())
    k = min(k, available)
    if k == 0:
        return []
    # Everything at least as good as the k-th best, ties included, then an exact sort by
    # score and row (= item id order): equal scores rank by item id.
    kth = np.partition(-scores, k - 1)[k - 1]
    candidates = np.flatnonzero(-scores <= kth)
    order = np.lexsort((candidates, -scores[candidates]))
    chosen = candidates[order][:k]
    return [int(x) for x in catalog.item_ids[chosen]]


def top_k_many(scores: np.ndarray, catalog: Catalog, k: int) -> np.ndarray:
    """`top_k` for each row of `scores` (-inf: excluded): item ids, -1 where none is left.

    The same rule, ties to the lower item id, without sorting or partitioning whole
    rows: the k-th smallest of the rows' chunk minima (of -score) bounds the k-th best
    score, since those minima are k distinct entries; only the few entries within the
    bound are sorted exactly, by score and then item id.
    """
    n, m = scores.shape
    k = min(k, m)
    chosen = np.full((n, k), -1, dtype=np.int64)
    if k == 0 or n == 0:
        return chosen
    neg = -scores
    neg[np.isnan(neg)] = np.inf  # a score that is no number is never chosen, as -inf
    whole = (m // _CHUNK) * _CHUNK
    # Too few chunks to hold k entries: the entries themselves.
    chunked = whole // _CHUNK >= k
    minima = neg[:, :whole].reshape(n, -1, _CHUNK).min(axis=2) if chunked else neg
    bound = np.partition(minima, k - 1, axis=1)[:, k - 1 : k]
    rows, cols = np.nonzero(neg <= bound)
    values = neg[rows, cols]
    kept = values != np.inf  # excluded items are never chosen
    rows, cols, values = rows[kept], cols[kept], values[kept]
    # Each row's candidates, best first, then by item id (= catalogue row order).
    order = np.lexsort((cols, values, rows))
    rows, cols = rows[order], cols[order]
    slot = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n))[rows]
    first = slot < k
    chosen[rows[first], slot[first]] = catalog.item_ids[cols[first]]
    return chosen
