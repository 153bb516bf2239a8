"""The catalogue as the engine sees it: item features as arrays, indexed by item id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from personas.taste import TasteSpace


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
    space_id: str

    @classmethod
    def build(
        cls,
        items: pl.DataFrame,
        genre_names: tuple[str, ...],
        train: pl.DataFrame,
        space: TasteSpace,
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
        return cls(
            item_ids=item_ids,
            titles=tuple(items["title"].to_list()),
            years=tuple(items["year"].to_list()),
            genres=genres,
            genre_names=genre_names,
            genre_matrix=matrix,
            popularity=popularity,
            factors=space.item_factors,
            space_id=space.id,
        )

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
