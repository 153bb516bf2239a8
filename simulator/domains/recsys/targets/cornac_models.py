"""Cornac's rating models as arms: biased matrix factorisation (MF) and non-negative MF.

Cornac (https://cornac.preferred.ai) is a maintained library of recommender
models. These two learn from the ratings themselves — unlike `implicit`'s
models, which learn from who consumed what — so an A/B between `cornac-mf`
and `als` sets two ideas of preference against each other.

Cornac is an optional dependency (`pip install 'simfolk[cornac]'`); it is
imported when an arm is made, so simfolk runs without it. After a fit the
model's arrays are copied out and pages are scored here with numpy: a
checkpoint holds plain arrays, never a pickled model, and a restored arm
scores exactly as the fitted one.

Like BPR and LMF, neither folds a user in between refits: a user keeps the
factors of the last fit, and a user the fit never saw gets the most popular
items. Implicit-only logs have no ratings; these arms then fit on
log(1 + count) of each user's consumption, the usual confidence transform.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Interaction, RecContext
from simulator.domains.recsys.targets.history import UserHistory, fitted_row, top_k

_MODELS = {"mf": "MF", "nmf": "NMF"}
_INSTALL = "pip install 'simfolk[cornac]'"


def _cornac() -> Any:
    try:
        return importlib.import_module("cornac")
    except ImportError as exc:
        raise ImportError(f"the cornac arms need the cornac library: {_INSTALL}") from exc


def _ratings(interactions: pl.DataFrame) -> pl.DataFrame:
    """One (user, item, rating) per pair, the latest rating; log(1 + plays) without ratings.

    Plays are the rows' counts (implicit feedback), or the number of rows where none is given.
    """
    if "count" not in interactions.columns:
        interactions = interactions.with_columns(pl.lit(None, pl.Int64).alias("count"))
    pairs = interactions.select("user", "item_id", "rating", "t", "count")
    return (
        pairs.sort(["user", "item_id", "t"])
        .group_by(["user", "item_id"], maintain_order=True)
        .agg(
            pl.col("rating").drop_nulls().last().alias("rating"),
            pl.when(pl.col("count").is_null().all())
            .then(pl.len())
            .otherwise(pl.col("count").sum())
            .alias("plays"),
        )
        .with_columns(
            pl.col("rating").fill_null(pl.col("plays").cast(pl.Float64).log1p()).alias("rating")
        )
        .select("user", "item_id", "rating")
    )


class CornacRecommender:
    """One of cornac's rating models, refitted on schedule.

    Args:
        catalog: The items.
        seed: The fit's random state (one thread, so a fit is exactly reproducible).
        model: "mf" or "nmf".
        name: The name the trace records.
        **params: The model's own hyper-parameters (k, max_iter, learning_rate, ...).
    """

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        model: str = "mf",
        name: str | None = None,
        **params: Any,
    ) -> None:
        if model not in _MODELS:
            raise ValueError(f"unknown cornac model {model!r}; choose one of {sorted(_MODELS)}")
        _cornac()  # say what to install now, not at the first refit
        self.catalog = catalog
        self.seed = seed
        self.kind = model
        self.name = name or f"cornac-{model}"
        self.params = params
        self.history = UserHistory()
        self.users = np.array([], dtype=str)
        self.popularity = np.zeros(len(catalog))
        self.user_factors = np.zeros((0, 0))
        self.user_bias = np.zeros(0)
        self.item_factors = np.zeros((len(catalog), 0))
        self.item_bias = np.zeros(len(catalog))

    def fit(self, interactions: pl.DataFrame) -> None:
        """Train on each user's latest rating of each item."""
        cornac = _cornac()
        self.history.reset(interactions)
        table = _ratings(interactions)
        rows = zip(table["user"], table["item_id"].cast(pl.Utf8), table["rating"], strict=True)
        data = cornac.data.Dataset.from_uir(list(rows), seed=self.seed)
        model = getattr(cornac.models, _MODELS[self.kind])(
            **self.params, seed=self.seed, num_threads=1, verbose=False
        )
        with threadpool_limits(1, "blas"):
            model.fit(data)
        users = sorted(data.uid_map, key=data.uid_map.__getitem__)
        order = np.argsort(np.array(users, dtype=str), kind="stable")
        self.users = np.array(users, dtype=str)[order]
        self.user_factors = np.asarray(model.u_factors, dtype=np.float64)[order]
        self.user_bias = self._bias(model, model.u_biases, len(users))[order]
        # Cornac numbers items in order of appearance; put them on catalogue rows.
        rows_of = self.catalog.index(np.array([int(i) for i in data.iid_map], dtype=np.int64))
        cols = np.fromiter(data.iid_map.values(), dtype=np.int64)
        k = np.asarray(model.i_factors).shape[1]
        self.item_factors = np.zeros((len(self.catalog), k))
        self.item_factors[rows_of] = np.asarray(model.i_factors, dtype=np.float64)[cols]
        # An item no one rated in train is never shown (it has no factors to score by).
        self.item_bias = np.full(len(self.catalog), -np.inf)
        self.item_bias[rows_of] = self._bias(model, model.i_biases, len(cols))[cols]
        if getattr(model, "use_bias", False):
            self.item_bias[rows_of] += float(model.global_mean)
        self.popularity = np.bincount(
            self.catalog.index(table["item_id"].to_numpy()), minlength=len(self.catalog)
        ).astype(np.float64)

    @staticmethod
    def _bias(model: Any, biases: Any, n: int) -> np.ndarray:
        if not getattr(model, "use_bias", False) or biases is None:
            return np.zeros(n)
        return np.asarray(biases, dtype=np.float64)

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Rank unseen items by predicted rating (popularity for a user the fit never saw)."""
        seen = self.history.of(user)
        row = fitted_row(self.users, user)
        if row is None:
            scores = self.popularity
        else:
            scores = self.item_factors @ self.user_factors[row] + self.item_bias
            scores = scores + self.user_bias[row]
        return top_k(scores, self.catalog, seen | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """Consumed items enter the user's history; the factors wait for the next refit."""
        self.history.add(event.user, event.item_id)

    def get_state(self) -> dict[str, Any]:
        """History and the fitted arrays (plain data: a checkpoint cannot run code)."""
        return {
            "history": self.history.get_state(),
            "users": self.users.tolist(),
            "popularity": self.popularity.copy(),
            "user_factors": self.user_factors.copy(),
            "user_bias": self.user_bias.copy(),
            "item_factors": self.item_factors.copy(),
            "item_bias": self.item_bias.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.users = np.array(state["users"], dtype=str)
        self.popularity = np.array(state["popularity"])
        self.user_factors = np.array(state["user_factors"])
        self.user_bias = np.array(state["user_bias"])
        self.item_factors = np.array(state["item_factors"])
        self.item_bias = np.array(state["item_bias"])
