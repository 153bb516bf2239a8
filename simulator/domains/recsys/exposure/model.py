"""What each door offers: item distributions over the catalogue, on the dataset's clock.

One `Ledger` holds who rated what when — train first, then every simulated
rating — so that "trending", "recent popularity" and "a friend's latest" are
read the same way when the doors are fitted on train and when they run.
Simulated seconds map onto the dataset's clock at the end of train.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable

import numpy as np
import polars as pl

from personas.schema import Persona
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.exposure.config import IntentParams

DAY = 86400.0
SMOOTHING = 0.5  # pseudo-count every item gets in a door's distribution: nothing is impossible


class Ledger:
    """Ratings in time order, for windows over everyone and over one person."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.times: list[float] = []
        self.rows: list[int] = []
        self.by_user: dict[str, tuple[list[float], list[int]]] = {}

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, catalog: Catalog) -> Ledger:
        """From interactions with columns user (str), item_id and t (the dataset's clock)."""
        ledger = cls(len(catalog))
        ordered = frame.select("user", "item_id", "t").sort(
            "t", "user", "item_id", maintain_order=True
        )
        rows = catalog.index(ordered["item_id"].to_numpy())
        for user, row, t in zip(
            ordered["user"].to_list(), rows.tolist(), ordered["t"].to_list(), strict=True
        ):
            ledger.add(user, row, float(t))
        return ledger

    def add(self, user: str, row: int, t: float) -> None:
        """Record a rating; times must not run backwards."""
        if self.times and t < self.times[-1]:
            raise ValueError(f"the ledger runs forwards: {t} after {self.times[-1]}")
        self.times.append(t)
        self.rows.append(row)
        times, rows = self.by_user.setdefault(user, ([], []))
        times.append(t)
        rows.append(row)

    def window_counts(self, start: float, end: float) -> np.ndarray:
        """Ratings of each item in [start, end)."""
        lo, hi = bisect_left(self.times, start), bisect_left(self.times, end)
        counts: np.ndarray = np.bincount(
            np.asarray(self.rows[lo:hi], dtype=np.int64), minlength=self.n_items
        ).astype(np.float64)
        return counts

    def user_rows(self, user: str, start: float, end: float) -> list[int]:
        """The items `user` rated in [start, end)."""
        times, rows = self.by_user.get(user, ([], []))
        return rows[bisect_left(times, start) : bisect_left(times, end)]

    def friends_counts(self, friends: Iterable[str], start: float, end: float) -> np.ndarray:
        """How many of `friends` rated each item in [start, end)."""
        picked = [r for f in friends for r in set(self.user_rows(f, start, end))]
        counts: np.ndarray = np.bincount(
            np.asarray(picked, dtype=np.int64), minlength=self.n_items
        ).astype(np.float64)
        return counts


class Windows:
    """Counts over the `days` before the start of a moment's bucket (a day, an hour), cached.

    Ending a window on its bucket's start makes a count independent of when within
    the bucket it is read, so a cached and a fresh count are the same.
    """

    def __init__(self, ledger: Ledger, days: float, bucket: float, keep: int = 128) -> None:
        self.ledger, self.span, self.bucket, self.keep = ledger, days * DAY, bucket, keep
        self._cache: dict[int, np.ndarray] = {}

    def __call__(self, t: float) -> np.ndarray:
        """Ratings of each item in the window that ends at the start of `t`'s bucket."""
        index = int(t // self.bucket)
        if index not in self._cache:
            if len(self._cache) >= self.keep:
                self._cache.clear()
            end = index * self.bucket
            self._cache[index] = self.ledger.window_counts(end - self.span, end)
        return self._cache[index]


def intent_static(catalog: Catalog, persona: Persona) -> np.ndarray:
    """The persona's time-free intent features of every item: (items, 4)."""
    taste, n = persona.taste, len(catalog)
    same_space = taste.factor_space == catalog.space_id
    affinity = (
        catalog.choice_factors @ np.asarray(taste.choice_factors)
        if same_space and taste.choice_factors
        else np.zeros(n)
    )
    recent = (
        catalog.choice_factors @ np.asarray(taste.recent_choice_factors)
        if same_space and taste.recent_choice_factors
        else np.zeros(n)
    )
    by_genre = np.array([taste.genre_affinity.get(g, 0.0) for g in catalog.genre_names])
    # Genre rows sum to one, so this is the mean affinity over an item's genres.
    genre = catalog.genre_matrix @ by_genre
    return np.column_stack([affinity, recent, genre, catalog.popularity])


def intent_logits(
    static: np.ndarray, recent_counts: np.ndarray, params: IntentParams
) -> np.ndarray:
    """Log-weights of every item in the persona's intent at one moment."""
    w = params.vector()
    logits: np.ndarray = static @ np.asarray(w[:4]) + w[4] * np.log1p(recent_counts)
    return logits


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Normalised log-probabilities."""
    top = float(logits.max())
    result: np.ndarray = logits - top - math.log(float(np.exp(logits - top).sum()))
    return result


def smoothed_log(counts: np.ndarray) -> np.ndarray:
    """Log-probabilities of items in proportion to their counts, plus the smoothing."""
    result: np.ndarray = np.log(counts + SMOOTHING) - math.log(
        float(counts.sum()) + SMOOTHING * len(counts)
    )
    return result
