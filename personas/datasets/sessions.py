"""Cut each user's rating history into sessions at long gaps."""

from __future__ import annotations

import math

import polars as pl

from personas.datasets.split import canonical_sort

SESSION_GAP_SECONDS: int = 1800
"""Default gap (seconds) after which the next rating starts a new session."""


def sessionize(ratings: pl.DataFrame, gap_seconds: float = SESSION_GAP_SECONDS) -> pl.DataFrame:
    """Number each user's sessions from 0.

    Within a user, in (timestamp, item_id) order, a rating starts a new session
    when it comes more than ``gap_seconds`` after the previous one.

    Args:
        ratings: A ratings frame with user_id, item_id and timestamp (unix seconds).
        gap_seconds: The longest pause that still continues a session.

    Returns:
        The input's rows with a ``session:Int32`` column (replacing any existing one),
        sorted by user_id, timestamp, item_id; independent of the input's row order.

    Raises:
        ValueError: When gap_seconds is negative or not a number, or a column is missing.
    """
    if math.isnan(gap_seconds) or gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_seconds!r}")
    if "session" in ratings.columns:
        ratings = ratings.drop("session")
    ordered = canonical_sort(ratings)
    gap = pl.col("timestamp").diff().over("user_id")
    starts = (gap > gap_seconds).fill_null(False)
    return ordered.with_columns(
        starts.cast(pl.Int32).cum_sum().over("user_id").cast(pl.Int32).alias("session")
    )
