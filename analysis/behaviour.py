"""One common form for simulated and real behaviour.

Simulated runs and real rating logs both become a :class:`Behaviour`, so every
metric and every comparison reads the same three frames whatever their source.

Both sides are built by one function, :func:`behaviour_from_log`, from a plain
rating log, so they are measured the same way:

* Sessions are cut from the ratings alone with the dataset rule,
  :func:`personas.datasets.sessionize` (a new session after a gap of more than
  ``SESSION_GAP_SECONDS``). A simulated session in which the persona rated
  nothing is therefore not a session here, just as a real visit without a
  rating leaves no trace in a rating log; every session holds at least one
  rating on both sides.
* Every user of the population gets the same observation window of
  ``window_days`` days, including users who rated nothing in it, so per-day
  rates share one denominator and idle users count as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from personas.datasets import SESSION_GAP_SECONDS, sessionize
from simulator.trace.schema import EventKind

_SECONDS_PER_DAY = 86_400.0

RATINGS_SCHEMA = pl.Schema(
    {
        "user_id": pl.String,
        "item_id": pl.Int64,
        "rating": pl.Float64,
        "t": pl.Float64,
        "session": pl.Int32,
        "count": pl.Int64,
    }
)
# Implicit feedback's column: frames of ratings may leave it out (then it is null).
_OPTIONAL = {"count": pl.Int64}
SESSIONS_SCHEMA = pl.Schema(
    {"user_id": pl.String, "session": pl.Int32, "start": pl.Float64, "n_items": pl.Int32}
)
WINDOWS_SCHEMA = pl.Schema({"user_id": pl.String, "days": pl.Float64})


def _conform(frame: pl.DataFrame, schema: pl.Schema, name: str) -> pl.DataFrame:
    frame = frame.with_columns(
        pl.lit(None, dtype).alias(col)
        for col, dtype in _OPTIONAL.items()
        if col in schema and col not in frame.columns
    )
    missing = [col for col in schema.names() if col not in frame.columns]
    if missing:
        raise ValueError(f"Behaviour.{name} lacks columns {missing}")
    return frame.select(pl.col(col).cast(dtype) for col, dtype in schema.items())


@dataclass(frozen=True)
class Behaviour:
    """Who did what, in the one form that simulated and real users share.

    Attributes:
        ratings: One row per rating: ``user_id`` (String), ``item_id`` (Int64),
            ``rating`` (Float64), ``t`` (Float64 seconds), ``session`` (Int32),
            ``count`` (Int64: for implicit feedback how many times, the rating
            null; null for a rating).
        sessions: One row per session: ``user_id``, ``session``, ``start``
            (Float64 seconds) and ``n_items`` (Int32, ratings in it). Frames
            built by :func:`behaviour_from_log` never hold a session with 0
            ratings; hand-built ones may.
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


LOG_SCHEMA = pl.Schema(
    {
        "user_id": pl.String,
        "item_id": pl.Int64,
        "rating": pl.Float64,
        "t": pl.Float64,
        "count": pl.Int64,
    }
)


def behaviour_from_log(log: pl.DataFrame, users: Sequence[str], window_days: float) -> Behaviour:
    """Build the common form from a rating log; the one construction both sides share.

    Sessions are numbered per user by :func:`personas.datasets.sessionize`
    (timestamp ``t``, the default 30-minute gap), each starting at its first
    rating. Every user in ``users`` is observed for ``window_days`` days,
    whether or not it rated anything.

    Args:
        log: One row per rating: ``user_id`` (String), ``item_id``, ``rating``
            and ``t`` (seconds, any origin). Other columns are ignored.
        users: The population, rated or not; ids must be unique.
        window_days: How long every user was observed, in days.

    Returns:
        The behaviour, with ratings sorted by user then time.

    Raises:
        ValueError: If ``window_days`` is not positive, ``users`` repeats an id,
            or the log holds a user that is not in ``users``.
    """
    if not window_days > 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    population = list(users)
    if len(set(population)) != len(population):
        raise ValueError("users must not repeat an id")
    if "count" not in log.columns:  # a log of ratings
        log = log.with_columns(pl.lit(None, pl.Int64).alias("count"))
    missing = [col for col in LOG_SCHEMA.names() if col not in log.columns]
    if missing:
        raise ValueError(f"rating log lacks columns {missing}")
    frame = log.select(pl.col(col).cast(dtype) for col, dtype in LOG_SCHEMA.items())
    strangers = sorted(set(frame["user_id"].unique().to_list()) - set(population), key=str)
    if strangers:
        raise ValueError(f"the rating log holds users outside the population: {strangers[:5]}")
    ratings = sessionize(frame.rename({"t": "timestamp"}), SESSION_GAP_SECONDS).select(
        "user_id", "item_id", "rating", pl.col("timestamp").alias("t"), "session", "count"
    )
    sessions = (
        ratings.group_by("user_id", "session")
        .agg(pl.col("t").min().alias("start"), pl.len().alias("n_items"))
        .sort("user_id", "session")
    )
    windows = pl.DataFrame(
        {"user_id": sorted(population), "days": [float(window_days)] * len(population)},
        schema=WINDOWS_SCHEMA,
    )
    return Behaviour(ratings=ratings, sessions=sessions, windows=windows)


def behaviour_from_events(
    events: pl.DataFrame, horizon_days: float, users: Sequence[str]
) -> Behaviour:
    """Build the common form from a simulated run's event frame.

    Only ``rate`` and ``consume`` events are read: persona, item, rating (or
    count) and time become a rating log for :func:`behaviour_from_log`, so sessions are cut from the
    ratings exactly as for real users, not taken from the simulator's own
    session numbers.

    Args:
        events: Events as returned by :func:`analysis.frames.load_events`.
        horizon_days: Length of the simulated run in days, the window every
            persona is observed for.
        users: Every persona id of the run, including personas without events.

    Returns:
        The run's behaviour, with ``user_id`` the persona id.

    Raises:
        ValueError: If ``horizon_days`` is not positive or a persona that rated
            something is not in ``users``.
    """
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    kinds = [EventKind.RATE.value, EventKind.CONSUME.value]
    log = events.filter(pl.col("event").is_in(kinds)).select(
        pl.col("persona_id").alias("user_id"), "item_id", "rating", "t", "count"
    )
    return behaviour_from_log(log, users, horizon_days)


def behaviour_from_ratings(
    ratings: pl.DataFrame,
    user_ids: Mapping[int, str],
    window_days: float,
    starts: Mapping[int, float] | None = None,
) -> Behaviour:
    """Build the common form from a real rating log.

    With ``starts``, each user's window is ``starts[u] <= timestamp <
    starts[u] + window_days * 86400`` and only ratings inside it are kept;
    without, the log is taken to cover the window already. Sessions are cut
    afterwards by :func:`behaviour_from_log` (any ``session`` column in
    ``ratings`` is ignored).

    Args:
        ratings: Columns ``user_id`` (integer), ``item_id``, ``rating`` and
            ``timestamp`` (unix seconds, or a Datetime).
        user_ids: Map from dataset user to persona id (e.g. 42 to
            ``"ml-100k-42"``): the population. Users not in it are dropped;
            users in it without a rating get rate 0.
        window_days: How long every user is observed, in days.
        starts: Optional start of each user's window (unix seconds), keyed by
            dataset user; it must cover every user in ``user_ids``.

    Returns:
        The log's behaviour, with ``user_id`` the persona id and ``t`` the
        timestamp in seconds.

    Raises:
        ValueError: If ``window_days`` is not positive, two users map to one
            persona id, or ``starts`` lacks a user of ``user_ids``.
    """
    if not window_days > 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    personas = list(user_ids.values())
    if len(set(personas)) != len(personas):
        raise ValueError("user_ids maps two users to the same persona id")
    timestamp = pl.col("timestamp")
    if isinstance(ratings.schema["timestamp"], pl.Datetime):
        t = timestamp.dt.epoch("ms").cast(pl.Float64) / 1000.0
    else:
        t = timestamp.cast(pl.Float64)
    mapping = pl.DataFrame(
        {"user_id": list(user_ids.keys()), "persona": personas},
        schema={"user_id": pl.Int64, "persona": pl.String},
    )
    count = pl.col("count") if "count" in ratings.columns else pl.lit(None, pl.Int64)
    frame = ratings.select(
        pl.col("user_id").cast(pl.Int64), "item_id", "rating", t.alias("t"), count.alias("count")
    )
    if starts is not None:
        lacking = sorted(set(user_ids) - set(starts))
        if lacking:
            raise ValueError(f"starts lacks users {lacking[:5]}")
        bounds = pl.DataFrame(
            {"user_id": list(user_ids), "start": [float(starts[u]) for u in user_ids]},
            schema={"user_id": pl.Int64, "start": pl.Float64},
        )
        end = pl.col("start") + float(window_days) * _SECONDS_PER_DAY
        frame = frame.join(bounds, on="user_id", how="inner").filter(
            (pl.col("t") >= pl.col("start")) & (pl.col("t") < end)
        )
    log = frame.join(mapping, on="user_id", how="inner").select(
        pl.col("persona").alias("user_id"), "item_id", "rating", "t", "count"
    )
    return behaviour_from_log(log, personas, window_days)
