"""The catalogue as the engine sees it: item features as arrays, indexed by item id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from personas.datasets import FILM_WORDS, Words, strength
from personas.schema import Persona
from personas.taste import TasteSpace

_BIAS_SHRINKAGE = 5.0  # pseudo-ratings at the global mean: thinly rated items stay near it
_TIME_SPAN = 2**32  # timestamps fit below it, so row * span + time sorts by row, then time


@dataclass(frozen=True)
class Catalog:
    """Items with their display fields and the features brains and targets score with."""

    item_ids: np.ndarray  # sorted int64
    titles: tuple[str, ...]
    years: tuple[int | None, ...]
    genres: tuple[tuple[str, ...], ...]
    genre_names: tuple[str, ...]
    genre_matrix: np.ndarray  # (items, genres), each row sums to 1 (or 0: no genre)
    popularity: np.ndarray  # standardised log train counts: how much of a hit an item looks
    factors: np.ndarray  # rows of the taste space, aligned with item_ids
    choice_factors: np.ndarray  # rows of the taste space's PureSVD item factors
    space_id: str
    item_bias: np.ndarray  # shrunk mean train rating minus the global mean
    rating_keys: np.ndarray  # sorted row * 2**32 + timestamp of every train rating
    last_train_time: int
    words: Words = FILM_WORDS  # what an item and consuming one are called

    @classmethod
    def build(
        cls,
        items: pl.DataFrame,
        genre_names: tuple[str, ...],
        train: pl.DataFrame,
        space: TasteSpace,
        words: Words = FILM_WORDS,
    ) -> Catalog:
        """Assemble from a dataset's items, its train ratings and the fitted taste space."""
        items = items.sort("item_id")
        item_ids = items["item_id"].to_numpy().astype(np.int64)
        if not np.array_equal(item_ids, space.item_ids):
            raise ValueError("the taste space was fitted on another catalogue")
        genres = tuple(tuple(g) for g in items["genres"].to_list())
        column = {name: j for j, name in enumerate(genre_names)}
        matrix = np.zeros((len(item_ids), len(genre_names)), dtype=np.float64)
        for i, item_genres in enumerate(genres):
            for g in item_genres:
                matrix[i, column[g]] = 1.0 / len(item_genres)
        counts = np.zeros(len(item_ids))
        np.add.at(counts, np.searchsorted(item_ids, train["item_id"].to_numpy()), 1.0)
        log_counts = np.log1p(counts)
        popularity = (log_counts - log_counts.mean()) / (log_counts.std() or 1.0)
        rows = np.searchsorted(item_ids, train["item_id"].to_numpy())
        ratings = train.select(strength(train)).to_series().to_numpy().astype(np.float64)
        sums = np.bincount(rows, weights=ratings - ratings.mean(), minlength=len(item_ids))
        times = train["timestamp"].to_numpy().astype(np.int64)
        return cls(
            item_ids=item_ids,
            titles=tuple(items["title"].to_list()),
            years=tuple(items["year"].to_list()),
            genres=genres,
            genre_names=genre_names,
            genre_matrix=matrix,
            popularity=popularity,
            factors=space.item_factors,
            choice_factors=space.choice_item_factors,
            space_id=space.id,
            item_bias=sums / (counts + _BIAS_SHRINKAGE),
            rating_keys=np.sort(rows.astype(np.int64) * _TIME_SPAN + times),
            last_train_time=int(times.max()) if len(times) else 0,
            words=words,
        )

    def recent_counts(
        self, rows: np.ndarray, until: int | np.ndarray, days: float = 30.0
    ) -> np.ndarray:
        """Train ratings of each item in the `days` before `until` (unix s): what is trending.

        `until` is one time, or one per row.
        """
        rows = np.asarray(rows, dtype=np.int64) * _TIME_SPAN
        start = until - int(days * 86400)
        high = np.searchsorted(self.rating_keys, rows + until, side="right")
        low = np.searchsorted(self.rating_keys, rows + start, side="left")
        counts: np.ndarray = (high - low).astype(np.float64)
        return counts

    def __len__(self) -> int:
        return len(self.item_ids)

    def index(self, item_ids: np.ndarray | list[int]) -> np.ndarray:
        """Row numbers of the given item ids (which must be in the catalogue)."""
        ids = np.asarray(item_ids, dtype=np.int64)
        rows = np.searchsorted(self.item_ids, ids)
        bad = (rows >= len(self.item_ids)) | (self.item_ids[np.minimum(rows, len(self) - 1)] != ids)
        if bad.any():
            raise KeyError(f"items not in the catalogue: {ids[bad][:5].tolist()}")
        return rows


def check_factor_lengths(persona: Persona, catalog: Catalog) -> None:
    """Refuse a persona whose factor vectors do not fit the catalogue's item factors."""
    taste = persona.taste
    for name, vector, items in (
        ("factors", taste.factors, catalog.factors),
        ("choice_factors", taste.choice_factors, catalog.choice_factors),
        ("recent_choice_factors", taste.recent_choice_factors, catalog.choice_factors),
    ):
        if vector and len(vector) != items.shape[1]:
            raise ValueError(
                f"persona {persona.id}: taste.{name} has {len(vector)} values, but the item "
                f"factors of {catalog.space_id} have {items.shape[1]}; rebuild the personas"
            )
