"""Matrix factorisation with `implicit`'s alternating least squares."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from simulator.catalog import Catalog
from simulator.interfaces import Interaction, RecContext
from simulator.targets.history import UserHistory, top_k


class ALSRecommender:
    """Implicit-feedback ALS; users fold in on every request, the model refits on schedule."""

    name = "als"

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        factors: int = 32,
        regularization: float = 0.05,
        iterations: int = 15,
    ) -> None:
        self.catalog = catalog
        self.seed = seed
        self.params = {
            "factors": factors,
            "regularization": regularization,
            "iterations": iterations,
        }
        self.history = UserHistory()
        self.model = self._new_model()

    def _new_model(self) -> AlternatingLeastSquares:
        # One thread: each fit and fold-in is then exactly reproducible.
        with threadpool_limits(1, "blas"):
            return AlternatingLeastSquares(
                **self.params, random_state=self.seed, num_threads=1, calculate_training_loss=False
            )

    def fit(self, interactions: pl.DataFrame) -> None:
        """Train on who rated what; confidence grows with the rating."""
        self.history.reset(interactions)
        users, rows = np.unique(interactions["user"].to_numpy(), return_inverse=True)
        cols = self.catalog.index(interactions["item_id"].to_numpy())
        weights = interactions["rating"].fill_null(1.0).to_numpy().astype(np.float32)
        matrix = sp.csr_matrix((weights, (rows, cols)), shape=(len(users), len(self.catalog)))
        self.model = self._new_model()
        with threadpool_limits(1, "blas"):
            self.model.fit(matrix, show_progress=False)

    def _user_row(self, items: set[int]) -> sp.csr_matrix:
        cols = self.catalog.index(sorted(items)) if items else np.array([], dtype=np.int64)
        return sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), cols)),
            shape=(1, len(self.catalog)),
        )

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Fold the user's current history in and rank unseen items by predicted preference."""
        seen = self.history.of(user)
        with threadpool_limits(1, "blas"):
            vector = self.model.recalculate_user(0, self._user_row(seen))
        scores = np.asarray(self.model.item_factors) @ np.asarray(vector).ravel()
        return top_k(scores, self.catalog, seen | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """Consumed items enter the user's history and so the next fold-in."""
        self.history.add(event.user, event.item_id)

    def get_state(self) -> dict[str, Any]:
        """History and the fitted factors."""
        return {
            "history": self.history.get_state(),
            "user_factors": np.array(self.model.user_factors),
            "item_factors": np.array(self.model.item_factors),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.model = self._new_model()
        self.model.user_factors = state["user_factors"]
        self.model.item_factors = state["item_factors"]
