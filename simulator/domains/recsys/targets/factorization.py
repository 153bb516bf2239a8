"""Matrix-factorisation recommenders: `implicit`'s ALS, BPR and LMF, and PureSVD.

All score unseen items by user factors · item factors. They differ in how a
user's latest history reaches the user factors between refits:

- ALS folds the user in on every request (`recalculate_user`), so a click
  changes the next page at once;
- BPR and LMF cannot fold in (implicit does not support it for them): a user
  keeps the factors of the last fit until the next refit, and a user the fit
  never saw gets the most popular items;
- PureSVD scores the user's current consumption row times V Vᵀ, so it follows
  every click without any fold-in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.lmf import LogisticMatrixFactorization
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Interaction, RecContext
from simulator.domains.recsys.targets.history import UserHistory, fitted_row, top_k

_MODELS: dict[str, Any] = {
    "als": AlternatingLeastSquares,
    "bpr": BayesianPersonalizedRanking,
    "lmf": LogisticMatrixFactorization,
}


def confidence(interactions: pl.DataFrame) -> np.ndarray:
    """ALS's confidence in each row: its rating, else log(1 + plays), else 1 (a bare click)."""
    plays = interactions["count"] if "count" in interactions.columns else None
    strength = interactions["rating"]
    if plays is not None:
        strength = strength.fill_null(plays.cast(pl.Float64).log1p())
    return strength.fill_null(1.0).to_numpy().astype(np.float32)


def _user_item_matrix(
    interactions: pl.DataFrame, catalog: Catalog, weights: np.ndarray | None = None
) -> tuple[np.ndarray, sp.csr_matrix]:
    """The sorted users and their (users × catalogue) matrix; binary unless `weights`."""
    users, rows = np.unique(interactions["user"].to_numpy(), return_inverse=True)
    cols = catalog.index(interactions["item_id"].to_numpy())
    values = np.ones(len(cols), dtype=np.float32) if weights is None else weights
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(users), len(catalog)))
    if weights is None:
        matrix.sum_duplicates()
        matrix.data[:] = 1.0  # a re-rating is still one consumption
    return users, matrix


class ImplicitRecommender:
    """One of `implicit`'s factorisation models, refitted on schedule.

    Args:
        catalog: The items.
        seed: The fit's random state (one thread, so a fit is exactly reproducible).
        model: "als", "bpr" or "lmf".
        name: The name the trace records.
        **params: The model's own hyper-parameters (factors, iterations, ...).
    """

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        model: str = "als",
        name: str | None = None,
        **params: Any,
    ) -> None:
        if model not in _MODELS:
            raise ValueError(f"unknown implicit model {model!r}; choose one of {sorted(_MODELS)}")
        self.catalog = catalog
        self.seed = seed
        self.kind = model
        self.name = name or model
        self.params = params
        self.history = UserHistory()
        self.users = np.array([], dtype=str)
        self.popularity = np.zeros(len(catalog))
        self.model = self._new_model()

    def _new_model(self) -> Any:
        with threadpool_limits(1, "blas"):
            extra = {"calculate_training_loss": False} if self.kind == "als" else {}
            return _MODELS[self.kind](**self.params, random_state=self.seed, num_threads=1, **extra)

    @property
    def folds_in(self) -> bool:
        """Whether a request folds the user's current history in (ALS only)."""
        return self.kind == "als"

    def fit(self, interactions: pl.DataFrame) -> None:
        """Train on who rated what; for ALS, confidence grows with the rating or the plays."""
        self.history.reset(interactions)
        weights = None
        if self.kind == "als":
            weights = confidence(interactions)
        self.users, matrix = _user_item_matrix(interactions, self.catalog, weights)
        self.popularity = np.asarray((matrix > 0).sum(axis=0), dtype=np.float64).ravel()
        self.model = self._new_model()
        with threadpool_limits(1, "blas"):
            self.model.fit(matrix, show_progress=False)

    def _user_row(self, items: set[int]) -> sp.csr_matrix:
        cols = self.catalog.index(sorted(items)) if items else np.array([], dtype=np.int64)
        return sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), cols)),
            shape=(1, len(self.catalog)),
        )

    def _user_vector(self, user: str, seen: set[int]) -> np.ndarray | None:
        if self.folds_in:
            with threadpool_limits(1, "blas"):
                return np.asarray(self.model.recalculate_user(0, self._user_row(seen))).ravel()
        row = fitted_row(self.users, user)
        return None if row is None else np.asarray(self.model.user_factors[row]).ravel()

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Rank unseen items by predicted preference (popularity for a user the fit never saw)."""
        seen = self.history.of(user)
        vector = self._user_vector(user, seen)
        factors = np.asarray(self.model.item_factors)
        scores = self.popularity if vector is None else factors @ vector
        return top_k(scores, self.catalog, seen | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """Consumed items enter the user's history (and, for ALS, the next fold-in)."""
        self.history.add(event.user, event.item_id)

    def get_state(self) -> dict[str, Any]:
        """History and the fitted factors."""
        return {
            "history": self.history.get_state(),
            "users": self.users.tolist(),
            "popularity": self.popularity.copy(),
            "user_factors": np.array(self.model.user_factors),
            "item_factors": np.array(self.model.item_factors),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        # A checkpoint of the ALS-only version holds neither; ALS folds in and needs neither.
        self.users = np.array(state.get("users", []), dtype=str)
        self.popularity = np.array(state.get("popularity", np.zeros(len(self.catalog))))
        self.model = self._new_model()
        self.model.user_factors = state["user_factors"]
        self.model.item_factors = state["item_factors"]


class PureSVDRecommender:
    """PureSVD (Cremonesi et al. 2010): a user's consumption row times V Vᵀ.

    V holds the top right singular vectors of the binary user × item matrix.
    The brain's affinity feature is this same model (with the taste space's own
    dimensions), which makes this arm the one closest to the simulated people.
    """

    def __init__(self, catalog: Catalog, factors: int = 64, name: str = "puresvd") -> None:
        self.catalog = catalog
        self.factors = factors
        self.name = name
        self.history = UserHistory()
        self.item_factors = np.zeros((len(catalog), 0))
        self.popularity = np.zeros(len(catalog))

    def fit(self, interactions: pl.DataFrame) -> None:
        """The truncated SVD of who consumed what."""
        self.history.reset(interactions)
        _, matrix = _user_item_matrix(interactions, self.catalog)
        self.popularity = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        k = min(self.factors, min(matrix.shape) - 1)
        if k < 1:
            self.item_factors = np.zeros((len(self.catalog), 0))
            return
        # A fixed start vector makes ARPACK deterministic.
        v0 = np.full(min(matrix.shape), 1.0 / np.sqrt(min(matrix.shape)))
        with threadpool_limits(1, "blas"):
            _, _, vt = svds(matrix.astype(np.float64), k=k, v0=v0, solver="arpack")
        self.item_factors = vt.T.copy()

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Items nearest the user's consumption in the SVD's span; popular items for a new user."""
        seen = self.history.of(user)
        if not seen:
            return top_k(self.popularity, self.catalog, context.exclude, k)
        row = np.zeros(len(self.catalog))
        row[self.catalog.index(sorted(seen))] = 1.0
        v = self.item_factors
        return top_k(v @ (v.T @ row), self.catalog, seen | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """A consumed item enters the user's row at once."""
        self.history.add(event.user, event.item_id)

    def get_state(self) -> dict[str, Any]:
        """History and the item factors."""
        return {
            "history": self.history.get_state(),
            "item_factors": self.item_factors.copy(),
            "popularity": self.popularity.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.item_factors = np.array(state["item_factors"])
        self.popularity = np.array(state["popularity"])
