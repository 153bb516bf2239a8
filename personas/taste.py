"""A latent taste space fitted on train ratings: user and item factors.

A truncated SVD of the user-centred rating matrix. Persona factors and the
item factors the engine scores with come from the same fit, named by an id
that hashes the train data, so a persona never pairs with foreign factors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import svds


@dataclass(frozen=True)
class TasteSpace:
    """Item and user factors; `u @ v` predicts a user's rating minus their mean."""

    id: str
    item_ids: np.ndarray
    item_factors: np.ndarray
    user_ids: np.ndarray
    user_factors: np.ndarray

    def user_vector(self, user_id: int) -> np.ndarray:
        """The factors of one train user."""
        index = int(np.searchsorted(self.user_ids, user_id))
        if index >= len(self.user_ids) or self.user_ids[index] != user_id:
            raise KeyError(f"user {user_id} has no train ratings in taste space {self.id}")
        vector: np.ndarray = self.user_factors[index]
        return vector


def _train_digest(train: pl.DataFrame) -> str:
    # Sorted first: the same ratings in another row order are the same space.
    digest = hashlib.sha256()
    canonical = train.select("user_id", "item_id", "rating").sort("user_id", "item_id", "rating")
    for column in canonical.columns:
        digest.update(canonical[column].to_numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_taste_space(train: pl.DataFrame, item_ids: np.ndarray, dims: int = 16) -> TasteSpace:
    """Fit the space on `train` (user_id, item_id, rating) over the catalogue `item_ids`."""
    item_ids = np.sort(np.asarray(item_ids, dtype=np.int64))
    user_ids = np.unique(train["user_id"].to_numpy()).astype(np.int64)
    rows = np.searchsorted(user_ids, train["user_id"].to_numpy())
    cols = np.searchsorted(item_ids, train["item_id"].to_numpy())
    ratings = train["rating"].to_numpy().astype(np.float64)
    user_mean = np.bincount(rows, weights=ratings, minlength=len(user_ids)) / np.maximum(
        np.bincount(rows, minlength=len(user_ids)), 1
    )
    matrix = sp.csr_matrix(
        (ratings - user_mean[rows], (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    matrix.sum_duplicates()
    k = min(dims, min(matrix.shape) - 1)
    if k < 1:
        users = np.zeros((len(user_ids), dims))
        items = np.zeros((len(item_ids), dims))
    else:
        # A fixed start vector makes ARPACK deterministic.
        v0 = np.full(min(matrix.shape), 1.0 / np.sqrt(min(matrix.shape)))
        u, s, vt = svds(matrix, k=k, v0=v0, solver="arpack")
        order = np.argsort(-s)
        root = np.sqrt(s[order])
        users = np.zeros((len(user_ids), dims))
        items = np.zeros((len(item_ids), dims))
        users[:, :k] = u[:, order] * root
        items[:, :k] = vt[order].T * root
        # SVD signs are arbitrary: fix them so the same data always gives the same factors.
        signs = np.sign(items[np.argmax(np.abs(items), axis=0), np.arange(dims)])
        signs[signs == 0] = 1.0
        users *= signs
        items *= signs
    return TasteSpace(
        id=f"svd{dims}:{_train_digest(train)}",
        item_ids=item_ids,
        item_factors=items,
        user_ids=user_ids,
        user_factors=users,
    )
