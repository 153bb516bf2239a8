"""Per-user train/held-out split of a ratings frame: by time, or by hash where there is none."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

ORDER = ("user_id", "timestamp", "item_id")

# Slack for n * holdout landing a hair above a whole number (10 * 0.3 == 3.0000000000000004).
_CEIL_SLACK = 1e-9


@dataclass(frozen=True, eq=False)
class Split:
    """A ratings frame cut per user into an earlier train part and a later held-out part.

    Attributes:
        train: The earlier ratings of each user, same columns as the input.
        heldout: The later ratings of each user, same columns as the input.
        holdout: The share of each user's ratings asked to be held out.
        min_train: The fewest ratings any user keeps in train (all of them if fewer).
    """

    train: pl.DataFrame
    heldout: pl.DataFrame
    holdout: float
    min_train: int


def canonical_sort(ratings: pl.DataFrame) -> pl.DataFrame:
    """Sort ratings by user_id, timestamp, item_id, breaking ties on the other columns.

    The tie-break makes the row order a function of the rows alone, never of the
    order they came in.

    Args:
        ratings: A frame with at least user_id, timestamp and item_id.

    Returns:
        The sorted frame.

    Raises:
        ValueError: When one of the key columns is missing.
    """
    missing = [c for c in ORDER if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings frame lacks column(s) {missing}; it has {ratings.columns}")
    extra = [
        c
        for c, dtype in ratings.schema.items()
        if c not in ORDER and (dtype.is_numeric() or dtype in (pl.String, pl.Boolean))
    ]
    return ratings.sort([*ORDER, *extra], maintain_order=True)


def split_ratings(ratings: pl.DataFrame, holdout: float, min_train: int, *, timed: bool) -> Split:
    """The split a dataset is simulated on: `temporal_split`, or `hashed_split` without times."""
    if timed:
        return temporal_split(ratings, holdout=holdout, min_train=min_train)
    return hashed_split(ratings, holdout=holdout, min_train=min_train)


def split_rule(label: str, timed: bool) -> str:
    """A config's split label ("temporal holdout=…") as the data was really split."""
    return label if timed else label.replace("temporal", "hashed", 1)


def _mix64(x: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser: a fixed, well-spread hash of 64-bit integers.
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: np.ndarray = x ^ (x >> np.uint64(31))
    return result


def hashed_split(ratings: pl.DataFrame, holdout: float = 0.2, min_train: int = 5) -> Split:
    """Hold out a pseudo-random share of each user's items, for a log without times.

    Each user's rows are ordered by a fixed hash of (user_id, item_id) in place
    of time, then cut as `temporal_split` cuts them. The order depends on the
    two ids alone: not on the file's row order, a seed or the library version,
    so every run and `compare` of the data hold out the same rows.

    Args:
        ratings: A ratings frame whose timestamps say nothing (all equal).
        holdout: The share of each user's rows to hold out, in (0, 1).
        min_train: The fewest rows a user keeps in train, at least 1.
    """
    user = _mix64(ratings["user_id"].to_numpy().astype(np.int64).view(np.uint64))
    key = _mix64(user ^ ratings["item_id"].to_numpy().astype(np.int64).view(np.uint64))
    order = pl.Series("__order", (key >> np.uint64(1)).astype(np.int64))
    # The hash stands in for the timestamp while cutting, then the frame is as it was.
    shuffled = ratings.with_columns(order.alias("timestamp"), pl.col("timestamp").alias("__t"))
    cut = temporal_split(shuffled, holdout=holdout, min_train=min_train)

    def back(frame: pl.DataFrame) -> pl.DataFrame:
        return canonical_sort(frame.with_columns(pl.col("__t").alias("timestamp")).drop("__t"))

    return Split(back(cut.train), back(cut.heldout), cut.holdout, cut.min_train)


def temporal_split(ratings: pl.DataFrame, holdout: float = 0.2, min_train: int = 5) -> Split:
    """Hold out each user's latest ratings.

    Each user's ratings are ordered by (timestamp, item_id); the last
    ``ceil(n * holdout)`` go to held-out, but never so many that fewer than
    ``min_train`` stay in train. Users with ``n <= min_train`` keep all in train.

    Args:
        ratings: A ratings frame (user_id, item_id, rating, timestamp, ...).
        holdout: The share of each user's ratings to hold out, in (0, 1).
        min_train: The fewest ratings a user keeps in train, at least 1.

    Returns:
        The split; both frames sorted by user_id, timestamp, item_id.

    Raises:
        ValueError: When holdout is not in (0, 1), min_train < 1, or a column is missing.
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    if isinstance(min_train, bool) or int(min_train) != min_train or min_train < 1:
        raise ValueError(f"min_train must be a whole number >= 1, got {min_train!r}")
    min_train = int(min_train)
    ordered = canonical_sort(ratings)
    n = pl.len().over("user_id").cast(pl.Int64)
    position = pl.int_range(pl.len(), dtype=pl.Int64).over("user_id")
    wanted = (n.cast(pl.Float64) * holdout - _CEIL_SLACK).ceil().cast(pl.Int64)
    held = pl.min_horizontal(wanted, n - min_train).clip(lower_bound=0)
    is_held = position >= n - held
    marked = ordered.with_columns(is_held.alias("__held"))
    return Split(
        train=marked.filter(~pl.col("__held")).drop("__held"),
        heldout=marked.filter(pl.col("__held")).drop("__held"),
        holdout=float(holdout),
        min_train=min_train,
    )
