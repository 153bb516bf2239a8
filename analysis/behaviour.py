"""One common form for simulated and real behaviour.

Simulated runs and real rating logs both become a :class:`Behaviour`, so every
metric and every comparison reads the same three frames whatever their source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from simulator.trace.schema import EventKind

_SECONDS_PER_DAY = 86_400.0

RATINGS_SCHEMA = pl.Schema(
    {
        "user_id": pl.String,
        "item_id": pl.Int64,
        "rating": pl.Float64,
        "t": pl.Float64,
        "session": pl.Int32,
    }
)
SESSIONS_SCHEMA = pl.Schema(
    {"user_id": pl.String, "session": pl.Int32, "start": pl.Float64, "n_items": pl.Int32}
)
WINDOWS_SCHEMA = pl.Schema({"user_id": pl.String, "days": pl.Float64})


def _conform(frame: pl.DataFrame, schema: pl.Schema, name: str) -> pl.DataFrame:
    missing = [col for col in schema.names() if col not in frame.columns]
    if missing:
        raise ValueError(f"Behaviour.{name} lacks columns {missing}")
    return frame.select(pl.col(col).cast(dtype) for col, dtype in schema.items())


@dataclass(frozen=True)
class Behaviour:
    """Who did what, in the one form that simulated and real users share.

    Attributes:
        ratings: One row per rating: ``user_id`` (String), ``item_id`` (Int64),
            ``rating`` (Float64), ``t`` (Float64 seconds), ``session`` (Int32).
        sessions: One row per session: ``user_id``, ``session``, ``start``
            (Float64 seconds) and ``n_items`` (Int32, ratings in it; 0 allowed).
        windows: One row per user: ``user_id`` and ``days`` (Float64), how long
            the user was observed, the denominator of per-day rates.
    """

    ratings: pl.DataFrame
    sessions: pl.DataFrame
    windows: pl.DataFrame

    def __post_init__(self) -> None:
        # Normalise column order and types once so metrics can rely on them.
        object.__setattr__(self, "ratings", _conform(self.ratings, RATINGS_SCHEMA, "ratings"))
        object.__setattr__(self, "sessions", _conform(self.sessions, SESSIONS_SCHEMA, "sessions"))
        object.__setattr__(self, "windows", _conform(self.windows, WINDOWS_SCHEMA, "windows"))

    def users(self) -> list[str]:
        """Every user seen in any of the three frames, sorted."""
        seen: set[str] = set()
        for frame in (self.windows, self.sessions, self.ratings):
            seen.update(frame["user_id"].drop_nulls().to_list())
        return sorted(seen)

    def subset(self, users: Iterable[str]) -> Behaviour:
        """The same behaviour restricted to the given users.

        Args:
            users: User ids to keep; ids not present are ignored.

        Returns:
            A new Behaviour holding only rows of those users.
        """
        keep = sorted(set(users))
        return Behaviour(
            ratings=self.ratings.filter(pl.col("user_id").is_in(keep)),
            sessions=self.sessions.filter(pl.col("user_id").is_in(keep)),
            windows=self.windows.filter(pl.col("user_id").is_in(keep)),
        )


def behaviour_from_events(events: pl.DataFrame, horizon_days: float) -> Behaviour:
    """Build the common form from a simulated run's event frame.

    Args:
        events: Events as returned by :func:`analysis.frames.load_events`.
        horizon_days: Length of the simulated run in days; every persona with
            any event is taken to be observed for that long.

    Returns:
        The run's behaviour, with ``user_id`` the persona id.

    Raises:
        ValueError: If ``horizon_days`` is not positive.
    """
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    user = pl.col("persona_id").alias("user_id")
    ratings = events.filter(pl.col("event") == EventKind.RATE.value).select(
        user, "item_id", "rating", "t", "session"
    )
    starts = events.filter(pl.col("event") == EventKind.SESSION_START.value).select(
        user, "session", pl.col("t").alias("start")
    )
    counts = ratings.group_by("user_id", "session").agg(pl.len().alias("n_items"))
    sessions = (
        starts.join(counts, on=["user_id", "session"], how="left")
        .with_columns(pl.col("n_items").fill_null(0))
        .sort("user_id", "session")
    )
    windows = (
        events.select(user)
        .drop_nulls()
        .unique()
        .sort("user_id")
        .with_columns(pl.lit(float(horizon_days)).alias("days"))
    )
    return Behaviour(ratings=ratings.sort("user_id", "t"), sessions=sessions, windows=windows)


def behaviour_from_ratings(
    ratings: pl.DataFrame,
    user_ids: Mapping[int, str] | None = None,
    min_window_days: float = 1.0,
) -> Behaviour:
    """Build the common form from a real, already sessionised rating log.

    Args:
        ratings: Columns ``user_id`` (Int64), ``item_id``, ``rating``,
            ``timestamp`` (seconds, or a Datetime) and ``session`` (Int32).
        user_ids: Optional map from dataset user to persona id (e.g. 42 to
            ``"ml-100k-42"``); users not in it are dropped.
        min_window_days: Shortest observation window, so that users seen for a
            moment do not get huge per-day rates.

    Returns:
        The log's behaviour, with ``t`` the timestamp in seconds.

    Raises:
        ValueError: If ``min_window_days`` is not positive.
    """
    if not min_window_days > 0:
        raise ValueError(f"min_window_days must be positive, got {min_window_days}")
    timestamp = pl.col("timestamp")
    if isinstance(ratings.schema["timestamp"], pl.Datetime):
        t = timestamp.dt.epoch("ms").cast(pl.Float64) / 1000.0
    else:
        t = timestamp.cast(pl.Float64)
    frame = ratings.select(
        pl.col("user_id").cast(pl.Int64),
        pl.col("item_id").cast(pl.Int64),
        pl.col("rating").cast(pl.Float64),
        t.alias("t"),
        pl.col("session").cast(pl.Int32),
    )
    if user_ids is None:
        frame = frame.with_columns(pl.col("user_id").cast(pl.String))
    else:
        mapping = pl.DataFrame(
            {"user_id": list(user_ids.keys()), "persona": list(user_ids.values())},
            schema={"user_id": pl.Int64, "persona": pl.String},
        )
        frame = frame.join(mapping, on="user_id", how="inner").select(
            pl.col("persona").alias("user_id"), "item_id", "rating", "t", "session"
        )
    frame = frame.sort("user_id", "t")
    sessions = (
        frame.group_by("user_id", "session")
        .agg(pl.col("t").min().alias("start"), pl.len().alias("n_items"))
        .sort("user_id", "session")
    )
    span_days = (pl.col("t").max() - pl.col("t").min()) / _SECONDS_PER_DAY
    windows = (
        frame.group_by("user_id")
        .agg(pl.max_horizontal(span_days, pl.lit(float(min_window_days))).alias("days"))
        .sort("user_id")
    )
    return Behaviour(ratings=frame, sessions=sessions, windows=windows)
