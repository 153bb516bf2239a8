"""What each user has consumed, as a recommender keeps it, and top-k with exclusions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from simulator.domains.recsys.catalog import Catalog

_CHUNK = 16  # entries per chunk whose minimum bounds a row's top k


class UserHistory:
    """Consumed items per user, updated by fit and by feedback.

    What a fit saw is kept as arrays — the users sorted, each one's items sorted and
    unique, end to end — so a million users cost a few bytes an item, not a Python set
    each; what feedback adds until the next fit is a dict of sets, folded into the
    arrays for a checkpoint.
    """

    def __init__(self) -> None:
        self._set_rows(np.zeros(0, dtype=str), np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._added: dict[str, set[int]] = {}

    def reset(self, interactions: pl.DataFrame) -> None:
        """Replace everything with the users' items in `interactions`."""
        # Grouped and sorted by polars (byte order of UTF-8 is numpy's code point order).
        grouped = interactions.group_by("user").agg(pl.col("item_id").unique().sort()).sort("user")
        self._set_rows(
            grouped["user"].cast(pl.String).to_numpy().astype(str),
            grouped["item_id"].list.len().cast(pl.Int64).to_numpy(),
            grouped["item_id"].explode().cast(pl.Int64).to_numpy(),
        )
        self._added = {}

    def add(self, user: str, item_id: int) -> None:
        """Record one consumed item."""
        self._added.setdefault(user, set()).add(item_id)

    def add_many(self, users: Iterable[str], item_ids: Iterable[int]) -> None:
        """Record many consumed items, `add` for each pair."""
        added = self._added
        for user, item in zip(users, item_ids, strict=True):
            if (held := added.get(user)) is None:
                added[user] = {item}
            else:
                held.add(item)

    def of(self, user: str) -> set[int]:
        """The user's items (empty for a user never seen)."""
        row = fitted_row(self._users, user)
        items = [] if row is None else self._items[self._starts[row] : self._ends[row]].tolist()
        added = self._added.get(user)
        return set(items) if added is None else added.union(items)

    def rows(self, users: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`of` for each user by the array: CSR pointers and each row's item ids, sorted."""
        n, m = len(users), len(self._users)
        keys = np.asarray(users, dtype=str)
        if m:
            pos = np.minimum(np.searchsorted(self._users, keys), m - 1)
            found = self._users[pos] == keys
            lo = np.where(found, self._starts[pos], 0)
            sizes = np.where(found, self._ends[pos] - self._starts[pos], 0)
        else:  # nothing fitted yet
            lo = sizes = np.zeros(n, dtype=np.int64)
        owner = np.repeat(np.arange(n, dtype=np.int64), sizes)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        items = self._items[np.repeat(lo, sizes) + within]
        added = self._added
        more_owner: list[int] = []
        more_items: list[int] = []
        for b, user in enumerate(users):
            if (held := added.get(user)) is not None:
                more_owner += [b] * len(held)
                more_items += held
        if more_owner:
            owner, items = _unique_pairs(
                np.concatenate([owner, np.array(more_owner, dtype=np.int64)]),
                np.concatenate([items, np.array(more_items, dtype=np.int64)]),
            )
        return np.searchsorted(owner, np.arange(n + 1)), items

    def get_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint: three arrays, so a million users encode in a blink."""
        self._fold()
        return {"users": self._users, "sizes": self._ends - self._starts, "items": self._items}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (whose users may come in any order)."""
        users = np.asarray(state["users"], dtype=str)
        sizes = np.asarray(state["sizes"], dtype=np.int64)
        owner = np.repeat(np.arange(len(users), dtype=np.int64), sizes)
        self._set_pairs(users, owner, np.asarray(state["items"], dtype=np.int64))
        self._added = {}

    def _fold(self) -> None:
        """Fold what feedback added into the arrays."""
        if not self._added:
            return
        sets = list(self._added.values())
        users = np.concatenate([self._users, np.asarray(list(self._added), dtype=str)])
        extra = len(self._users) + np.arange(len(sets), dtype=np.int64)
        base = np.repeat(np.arange(len(self._users), dtype=np.int64), self._ends - self._starts)
        owner = np.concatenate([base, np.repeat(extra, [len(s) for s in sets])])
        added = np.fromiter((i for s in sets for i in s), np.int64)
        self._set_pairs(users, owner, np.concatenate([self._items, added]))
        self._added = {}

    def _set_pairs(self, users: np.ndarray, owner: np.ndarray, items: np.ndarray) -> None:
        """The arrays from (user, item) pairs, `owner` indexing `users` (which may repeat)."""
        names, index = np.unique(users, return_inverse=True)
        rows, items = _unique_pairs(index.ravel().astype(np.int64)[owner], items)
        sizes = np.diff(np.searchsorted(rows, np.arange(len(names) + 1)))
        self._set_rows(names.astype(str), sizes, items)

    def _set_rows(self, users: np.ndarray, sizes: np.ndarray, items: np.ndarray) -> None:
        self._users, self._items = users, items
        self._ends = np.cumsum(sizes, dtype=np.int64)
        self._starts = self._ends - sizes


def _unique_pairs(rows: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) pairs sorted by row then item, each once."""
    order = np.lexsort((items, rows))
    rows, items = rows[order], items[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (items[1:] != items[:-1])
    return rows[keep], items[keep]


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
