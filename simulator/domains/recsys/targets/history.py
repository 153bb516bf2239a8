"""What each user has consumed, as a recommender keeps it, and top-k with exclusions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from simulator.domains.recsys.catalog import Catalog


class UserHistory:
    """Consumed items per user, updated by fit and by feedback."""

    def __init__(self) -> None:
        self.items: dict[str, set[int]] = {}

    def reset(self, interactions: pl.DataFrame) -> None:
        """Replace everything with the users' items in `interactions`."""
        self.items = {}
        for user, item in zip(interactions["user"], interactions["item_id"], strict=True):
            self.items.setdefault(user, set()).add(int(item))

    def add(self, user: str, item_id: int) -> None:
        """Record one consumed item."""
        self.items.setdefault(user, set()).add(item_id)

    def of(self, user: str) -> set[int]:
        """The user's items (empty for a user never seen)."""
        return self.items.get(user, set())

    def get_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return {user: sorted(items) for user, items in self.items.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.items = {user: set(items) for user, items in state.items()}


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
