"""Behaviour metrics.

Most metrics read a :class:`~analysis.behaviour.Behaviour`, so they apply to
simulated and real users alike. The last few read the simulated event frame,
since only a simulation records impressions, clicks and pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from analysis.behaviour import Behaviour
from simulator.trace.schema import EventKind

FloatArray = npt.NDArray[np.float64]

_SECONDS_PER_HOUR = 3_600.0


def _floats(series: pl.Series) -> FloatArray:
    return series.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)


def rating_values(b: Behaviour) -> FloatArray:
    """Every rating given, in no particular order.

    Args:
        b: The behaviour.

    Returns:
        The rating values.
    """
    return _floats(b.ratings["rating"])


def play_counts(b: Behaviour) -> FloatArray:
    """log(1 + count) of every consumption counted (implicit feedback), in no order.

    On the log scale, as the personas' style and the fitted count model are:
    a count of 10,000 and one of 20,000 are one step apart, not 10,000.
    """
    return np.log1p(_floats(b.ratings["count"].drop_nulls()))


def items_per_session(b: Behaviour) -> FloatArray:
    """Number of ratings in each session (0 for sessions without any).

    Args:
        b: The behaviour.

    Returns:
        One count per session.
    """
    return _floats(b.sessions["n_items"])


def session_gaps_hours(b: Behaviour) -> FloatArray:
    """Hours between consecutive session starts of the same user.

    Args:
        b: The behaviour.

    Returns:
        One gap per pair of consecutive sessions; users with one session add none.
    """
    gaps = (
        b.sessions.sort("user_id", "start")
        .select(pl.col("start").diff().over("user_id").alias("gap"))
        .drop_nulls()
    )
    return _floats(gaps["gap"]) / _SECONDS_PER_HOUR


def _per_day(b: Behaviour, frame: pl.DataFrame) -> FloatArray:
    counts = frame.group_by("user_id").agg(pl.len().alias("n"))
    rates = (
        b.windows.join(counts, on="user_id", how="left")
        .with_columns(pl.col("n").fill_null(0))
        .sort("user_id")
        .select(pl.col("n").cast(pl.Float64) / pl.col("days"))
    )
    return _floats(rates.to_series())


def sessions_per_day(b: Behaviour) -> FloatArray:
    """Sessions per observed day, for each user (sorted by user id).

    Args:
        b: The behaviour.

    Returns:
        One rate per user in ``b.windows``; users without sessions give 0.
    """
    return _per_day(b, b.sessions)


def ratings_per_day(b: Behaviour) -> FloatArray:
    """Ratings per observed day, for each user (sorted by user id).

    Args:
        b: The behaviour.

    Returns:
        One rate per user in ``b.windows``; users without ratings give 0.
    """
    return _per_day(b, b.ratings)


def item_counts(b: Behaviour) -> pl.DataFrame:
    """Number of ratings per rated item.

    Args:
        b: The behaviour.

    Returns:
        Columns ``item_id`` (Int64) and ``n`` (Int64), sorted by item id.
    """
    return b.ratings.group_by("item_id").agg(pl.len().cast(pl.Int64).alias("n")).sort("item_id")


def gini(counts: npt.ArrayLike, n_items: int | None = None) -> float:
    """Gini coefficient of interactions over items.

    0 means every item got the same share; values near 1 mean a few items got
    almost everything.

    Args:
        counts: Interactions per item (non-negative).
        n_items: Catalogue size; when given, catalogue items missing from
            ``counts`` are counted as items with zero interactions.

    Returns:
        The Gini coefficient, or nan when there are no interactions.

    Raises:
        ValueError: If a count is negative or there are more counts than ``n_items``.
    """
    x = np.asarray(counts, dtype=np.float64).ravel()
    if np.any(x < 0):
        raise ValueError("gini needs non-negative counts")
    if n_items is not None:
        if x.size > n_items:
            raise ValueError(f"{x.size} item counts for a catalogue of {n_items} items")
        x = np.concatenate([x, np.zeros(n_items - x.size)])
    total = float(x.sum())
    if x.size == 0 or total == 0.0:
        return math.nan
    x = np.sort(x)
    n = x.size
    rank = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2.0 * rank - n - 1.0) * x) / (n * total))


def coverage(b: Behaviour, n_items: int) -> float:
    """Share of the catalogue that got at least one rating.

    Args:
        b: The behaviour.
        n_items: Catalogue size.

    Returns:
        Distinct rated items divided by ``n_items``.

    Raises:
        ValueError: If ``n_items`` is not positive or smaller than the number
            of distinct rated items.
    """
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    rated = b.ratings["item_id"].n_unique()
    if rated > n_items:
        raise ValueError(f"{rated} distinct rated items for a catalogue of {n_items} items")
    return rated / n_items


def top_share(b: Behaviour, share: float = 0.1) -> float:
    """Share of all ratings that go to the most-rated ``share`` of rated items.

    The top group holds ``ceil(share * rated items)`` items, at least one.

    Args:
        b: The behaviour.
        share: Fraction of rated items in the top group, in (0, 1].

    Returns:
        The top group's share of ratings, or nan when there are no ratings.

    Raises:
        ValueError: If ``share`` is outside (0, 1].
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    counts = np.sort(_floats(item_counts(b)["n"]))[::-1]
    if counts.size == 0:
        return math.nan
    # The small slack keeps e.g. 0.1 * 30 = 3.0000000000000004 at 3 items.
    k = max(1, math.ceil(share * counts.size - 1e-9))
    return float(counts[:k].sum() / counts.sum())


def genre_share(b: Behaviour, items: pl.DataFrame, genres: Sequence[str]) -> FloatArray:
    """Distribution of ratings over genres.

    Each rating spreads a weight of 1 evenly over its item's genres; weight on
    genres outside ``genres`` and ratings of items without genres are dropped
    before normalising.

    Args:
        b: The behaviour.
        items: Columns ``item_id`` and ``genres`` (List of String).
        genres: The genres to report, in order.

    Returns:
        Shares over ``genres`` summing to 1, or all zeros if nothing is left.
    """
    catalogue = items.select(
        pl.col("item_id").cast(pl.Int64), pl.col("genres").cast(pl.List(pl.String))
    ).unique(subset="item_id", keep="first")
    weights = (
        item_counts(b)
        .join(catalogue, on="item_id", how="inner")
        .filter(pl.col("genres").list.len() > 0)
        .with_columns((pl.col("n").cast(pl.Float64) / pl.col("genres").list.len()).alias("w"))
        .explode("genres")
        # Joins and group_by reorder rows from call to call; a float sum must not see that.
        .sort("genres", "item_id")
        .group_by("genres", maintain_order=True)
        .agg(pl.col("w").sum())
    )
    by_genre = dict(zip(weights["genres"].to_list(), weights["w"].to_list(), strict=True))
    out = np.array([by_genre.get(g, 0.0) for g in genres], dtype=np.float64)
    total = float(out.sum())
    return out / total if total > 0 else out


def _count(events: pl.DataFrame, kind: EventKind) -> int:
    return events.filter(pl.col("event") == kind.value).height


def ctr(events: pl.DataFrame) -> float:
    """Click-through rate of a simulated run.

    Args:
        events: The run's event frame.

    Returns:
        Clicks divided by impressions, or nan without impressions.
    """
    impressions = _count(events, EventKind.IMPRESSION)
    if impressions == 0:
        return math.nan
    return _count(events, EventKind.CLICK) / impressions


def ctr_by_position(events: pl.DataFrame) -> pl.DataFrame:
    """Click-through rate for each slot on the page.

    Clicks are placed by their own ``position`` field.

    Args:
        events: The run's event frame.

    Returns:
        Columns ``position``, ``impressions``, ``clicks`` (Int64) and ``ctr``
        (Float64), one row per position that had impressions, sorted by position.
    """

    def per_position(kind: EventKind, name: str) -> pl.DataFrame:
        return (
            events.filter((pl.col("event") == kind.value) & pl.col("position").is_not_null())
            .group_by(pl.col("position").cast(pl.Int64))
            .agg(pl.len().cast(pl.Int64).alias(name))
        )

    return (
        per_position(EventKind.IMPRESSION, "impressions")
        .join(per_position(EventKind.CLICK, "clicks"), on="position", how="left")
        .with_columns(pl.col("clicks").fill_null(0))
        .with_columns((pl.col("clicks") / pl.col("impressions")).alias("ctr"))
        .sort("position")
    )


def pages_per_session(events: pl.DataFrame) -> FloatArray:
    """Number of distinct pages shown in each session.

    Every (persona, session) that appears in the trace counts, so a session
    that ended before any impression gives 0.

    Args:
        events: The run's event frame.

    Returns:
        One count per (persona, session), ordered by persona then session.
    """
    keys = ["persona_id", "session"]
    sessions = events.select(keys).drop_nulls().unique()
    pages = (
        events.filter(pl.col("event") == EventKind.IMPRESSION.value)
        .group_by(keys)
        .agg(pl.col("page").drop_nulls().n_unique().alias("pages"))
    )
    counts = (
        sessions.join(pages, on=keys, how="left")
        .with_columns(pl.col("pages").fill_null(0))
        .sort(keys)
    )
    return _floats(counts["pages"])


def examined_share(events: pl.DataFrame) -> float:
    """Share of impressions that perception looked at.

    Args:
        events: The run's event frame.

    Returns:
        Examined impressions divided by impressions, or nan without impressions.
    """
    shown = events.filter(pl.col("event") == EventKind.IMPRESSION.value)
    if shown.height == 0:
        return math.nan
    return shown.filter(pl.col("examined").fill_null(False)).height / shown.height
