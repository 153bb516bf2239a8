"""Item-based k-nearest-neighbours with cosine similarity on who rated what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import (
    Interaction,
    Interactions,
    RecContext,
    RecContexts,
)
from simulator.domains.recsys.targets.history import UserHistory, top_k, top_k_many

_BLOCK = 1024  # rows per dense block: 1024 x 10k items is 80 MB


class ItemKNNRecommender:
    """Scores items by summed similarity to the user's consumed items (top neighbours only)."""

    def __init__(
        self,
        catalog: Catalog,
        neighbours: int = 50,
        shrinkage: float = 10.0,
        name: str = "itemknn",
    ) -> None:
        self.name = name
        self.catalog = catalog
        self.neighbours = neighbours
        self.shrinkage = shrinkage
        self.history = UserHistory()
        self.similarity = sp.csr_matrix((len(catalog), len(catalog)))
        self.popularity = np.zeros(len(catalog))

    def fit(self, interactions: pl.DataFrame) -> None:
        """Build the item-item similarity from a binary user-item matrix."""
        self.history.reset(interactions)
        # Any numbering of users does (they are summed over): a hash-built categorical is
        # far cheaper than sorting a million strings.
        user_rows = interactions["user"].cast(pl.Categorical).to_physical().to_numpy()
        _, user_rows = np.unique(user_rows, return_inverse=True)
        cols = self.catalog.index(interactions["item_id"].to_numpy())
        matrix = sp.csc_matrix(
            (np.ones(len(cols)), (user_rows, cols)),
            shape=(int(user_rows.max(initial=-1)) + 1, len(self.catalog)),
        )
        matrix.data[:] = 1.0  # duplicates count once
        counts = np.asarray(matrix.sum(axis=0)).ravel()
        self.popularity = counts
        self.similarity = self._top_neighbours(matrix.tocsr(), matrix, counts)

    def _top_neighbours(
        self, by_user: sp.csr_matrix, by_item: sp.csc_matrix, counts: np.ndarray
    ) -> sp.csr_matrix:
        # Dense blocks of rows keep memory bounded and let numpy pick each row's top k at once.
        n, k = len(self.catalog), min(self.neighbours, len(self.catalog) - 1)
        rows, cols, vals = [], [], []
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            co = (by_item[:, start:stop].T @ by_user).toarray()
            # Shrunk cosine: co-counts / (sqrt(n_i n_j) + shrinkage).
            sims = co / (np.sqrt(np.outer(counts[start:stop], counts)) + self.shrinkage)
            sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
            if k < 1:
                break
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            top_sims = np.take_along_axis(sims, top, axis=1)
            keep = top_sims > 0
            rows.append(np.repeat(np.arange(start, stop), k)[keep.ravel()])
            cols.append(top[keep])
            vals.append(top_sims[keep])
        if not rows:
            return sp.csr_matrix((n, n))
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Neighbours of what the user consumed; popularity breaks ties and serves cold users."""
        seen = self.history.of(user)
        scores = 1e-6 * self.popularity / (self.popularity.max() or 1.0)
        if seen:
            rows = self.catalog.index(sorted(seen))
            scores = scores + np.asarray(self.similarity[rows].sum(axis=0)).ravel()
        return top_k(scores, self.catalog, seen | context.exclude, k)

    def recommend_many(
        self, users: Sequence[str], k: int, contexts: Sequence[RecContext]
    ) -> np.ndarray:
        """`recommend` for many users at once: one sparse product, as many top-k as rows."""
        n_items = len(self.catalog)
        tie_break = 1e-6 * self.popularity / (self.popularity.max() or 1.0)
        result = np.full((len(users), min(k, n_items)), -1, dtype=np.int64)
        for start in range(0, len(users), _BLOCK):
            block = range(start, min(start + _BLOCK, len(users)))
            # Each user's items in catalogue order, so similarities sum as `recommend` sums them.
            pointers, flat = self.history.rows([users[i] for i in block])
            rows = self.catalog.index(flat)
            history = sp.csr_matrix(
                (np.ones(len(rows)), rows, pointers), shape=(len(block), n_items)
            )
            scores = np.asarray((history @ self.similarity).todense()) + tie_break
            scores[history.nonzero()] = -np.inf
            where, items = _excluded(contexts, block)
            if len(items):
                scores[where, self.catalog.index(items)] = -np.inf
            result[block.start : block.stop] = top_k_many(scores, self.catalog, k)
        return result

    def feedback(self, event: Interaction) -> None:
        """New consumptions shape the next recommendations at once."""
        self.history.add(event.user, event.item_id)

    def feedback_many(self, events: Interactions) -> None:
        """`feedback` for a batch, in order."""
        self.history.add_many(events.user.tolist(), events.item_id.tolist())

    def get_state(self) -> dict[str, Any]:
        """History, similarities and popularity (refits change the model, so it is state)."""
        return {
            "history": self.history.get_state(),
            "similarity": self.similarity.copy(),
            "popularity": self.popularity.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.similarity = state["similarity"]
        self.popularity = state["popularity"]


def _excluded(contexts: Sequence[RecContext], block: range) -> tuple[np.ndarray, np.ndarray]:
    """(row in the block, item id) of every shown item of the block's requests."""
    if isinstance(contexts, RecContexts):
        pointers, items = contexts.excluded()
        lo, hi = pointers[block.start], pointers[block.stop]
        sizes = np.diff(pointers[block.start : block.stop + 1])
        return np.repeat(np.arange(len(block)), sizes), items[lo:hi]
    pairs = [(j, item) for j, i in enumerate(block) for item in contexts[i].exclude]
    where = np.array([j for j, _ in pairs], dtype=np.int64)
    return where, np.array([item for _, item in pairs], dtype=np.int64)
