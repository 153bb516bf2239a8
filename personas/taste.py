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

from personas.datasets.dataset import strength

RECENT_HALF_LIFE = 10.0  # items: the current interest is mostly the last few dozen


@dataclass(frozen=True)
class TasteSpace:
    """Item and user factors.

    `user_factors @ item_factors` predicts a user's rating minus their mean;
    `choice_user_factors @ choice_item_factors` (PureSVD) scores what they pick.
    """

    id: str
    item_ids: np.ndarray
    item_factors: np.ndarray
    user_ids: np.ndarray
    user_factors: np.ndarray
    choice_item_factors: np.ndarray
    choice_user_factors: np.ndarray
    recent_choice_user_factors: np.ndarray

    def _row(self, user_id: int) -> int:
        index = int(np.searchsorted(self.user_ids, user_id))
        if index >= len(self.user_ids) or self.user_ids[index] != user_id:
            raise KeyError(f"user {user_id} has no train ratings in taste space {self.id}")
        return index

    def user_vector(self, user_id: int) -> np.ndarray:
        """The rating factors of one train user."""
        vector: np.ndarray = self.user_factors[self._row(user_id)]
        return vector

    def recent_choice_vector(self, user_id: int) -> np.ndarray:
        """Like `choice_vector`, each item weighted down by how many items came after it."""
        vector: np.ndarray = self.recent_choice_user_factors[self._row(user_id)]
        return vector

    def choice_vector(self, user_id: int) -> np.ndarray:
        """The choice factors of one train user: their consumption projected on the item factors."""
        vector: np.ndarray = self.choice_user_factors[self._row(user_id)]
        return vector


def _train_digest(train: pl.DataFrame) -> str:
    # Sorted first: the same ratings in another row order are the same space.
    digest = hashlib.sha256()
    canonical = train.select("user_id", "item_id", strength(train).alias("rating")).sort(
        "user_id", "item_id", "rating"
    )
    for column in canonical.columns:
        digest.update(canonical[column].to_numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_taste_space(
    train: pl.DataFrame,
    item_ids: np.ndarray,
    dims: int = 16,
    user_weights: dict[int, int] | None = None,
) -> TasteSpace:
    """Fit the space on `train` (user_id, item_id, rating) over the catalogue `item_ids`.

    `user_weights`, if given, is a bootstrap resample of the users (user id to
    how often it was drawn; absent: 0): the item factors are fitted as if each
    user's row appeared that often, and every user, drawn or not, is projected
    onto them. One member of an ensemble of taste spaces.
    """
    item_ids = np.sort(np.asarray(item_ids, dtype=np.int64))
    user_ids = np.unique(train["user_id"].to_numpy()).astype(np.int64)
    rows = np.searchsorted(user_ids, train["user_id"].to_numpy())
    cols = np.searchsorted(item_ids, train["item_id"].to_numpy())
    ratings = train.select(strength(train)).to_series().to_numpy().astype(np.float64)
    user_mean = np.bincount(rows, weights=ratings, minlength=len(user_ids)) / np.maximum(
        np.bincount(rows, minlength=len(user_ids)), 1
    )
    matrix = sp.csr_matrix(
        (ratings - user_mean[rows], (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    matrix.sum_duplicates()
    # PureSVD on who-rated-what: item factors V, a user's choice vector is their row @ V.
    consumed = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    consumed.sum_duplicates()
    consumed.data[:] = 1.0
    space_id = f"svd{dims}:{_train_digest(train)}"
    if user_weights is None:
        users, items = _svd(matrix, dims)
        # Unscaled V, as PureSVD scores a user's row by row @ V @ V.T.
        _, choice_items = _svd(consumed, 2 * dims, scale=False)
    else:
        users, items, choice_items, tag = _resampled(user_ids, matrix, consumed, dims, user_weights)
        space_id = f"{space_id}:boot{tag}"
    return TasteSpace(
        id=space_id,
        item_ids=item_ids,
        item_factors=items,
        user_ids=user_ids,
        user_factors=users,
        choice_item_factors=choice_items,
        choice_user_factors=np.asarray(consumed @ choice_items),
        recent_choice_user_factors=np.asarray(
            _recency_weighted(train, rows, cols, consumed.shape) @ choice_items
        ),
    )


def _resampled(
    user_ids: np.ndarray,
    matrix: sp.csr_matrix,
    consumed: sp.csr_matrix,
    dims: int,
    user_weights: dict[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Rating factors, item factors and PureSVD factors of a resample, and its tag."""
    # A user drawn k times adds k copies of its row to XᵀX, which is what scaling the row
    # by sqrt(k) does: the right singular vectors are the resample's.
    drawn = np.array([user_weights.get(int(u), 0) for u in user_ids], dtype=np.float64)
    scale = sp.diags(np.sqrt(drawn))
    _, items = _svd(sp.csr_matrix(scale @ matrix), dims)
    _, choice_items = _svd(sp.csr_matrix(scale @ consumed), 2 * dims, scale=False)
    # Rating factors U sqrt(S) = X V S^-1/2 = X (V sqrt(S)) / S, for every user, drawn or not.
    strength = np.square(np.linalg.norm(items, axis=0))
    users = np.asarray(matrix @ items) / np.where(strength > 0, strength, 1.0)
    return users, items, choice_items, hashlib.sha256(drawn.tobytes()).hexdigest()[:8]


def _recency_weighted(
    train: pl.DataFrame, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Who consumed what, each item weighted 0.5 ** (items consumed after it / half-life)."""
    order = np.lexsort((cols, train["timestamp"].to_numpy(), rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, rows, side="right")  # one past each user's last item
    after = starts - 1 - np.arange(len(rows))
    weights = 0.5 ** (after / RECENT_HALF_LIFE)
    return sp.csr_matrix((weights, (rows, cols)), shape=shape)


def _svd(matrix: sp.csr_matrix, dims: int, *, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Factors U sqrt(S) and V sqrt(S) (U and V if not `scale`), zero-padded, with fixed signs."""
    k = min(dims, min(matrix.shape) - 1)
    users = np.zeros((matrix.shape[0], dims))
    items = np.zeros((matrix.shape[1], dims))
    if k < 1:
        return users, items
    # A fixed start vector makes ARPACK deterministic.
    v0 = np.full(min(matrix.shape), 1.0 / np.sqrt(min(matrix.shape)))
    u, s, vt = svds(matrix.astype(np.float64), k=k, v0=v0, solver="arpack")
    order = np.argsort(-s)
    root = np.sqrt(s[order]) if scale else np.ones(k)
    users[:, :k] = u[:, order] * root
    items[:, :k] = vt[order].T * root
    # SVD signs are arbitrary: fix them so the same data always gives the same factors.
    signs = np.sign(items[np.argmax(np.abs(items), axis=0), np.arange(dims)])
    signs[signs == 0] = 1.0
    return users * signs, items * signs
