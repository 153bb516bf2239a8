"""Analysis: traces to polars frames, behaviour metrics, and comparison with real people."""

from __future__ import annotations

from analysis.behaviour import (
    Behaviour,
    behaviour_from_events,
    behaviour_from_log,
    behaviour_from_ratings,
)
from analysis.compare import ComparisonRow, compare
from analysis.distance import jensen_shannon, ks, wasserstein
from analysis.frames import TraceError, load_events
from analysis.metrics import (
    coverage,
    ctr,
    ctr_by_position,
    examined_share,
    genre_share,
    gini,
    item_counts,
    items_per_session,
    pages_per_session,
    rating_values,
    ratings_per_day,
    session_gaps_hours,
    sessions_per_day,
    top_share,
)

__all__ = [
    "Behaviour",
    "ComparisonRow",
    "TraceError",
    "behaviour_from_events",
    "behaviour_from_log",
    "behaviour_from_ratings",
    "compare",
    "coverage",
    "ctr",
    "ctr_by_position",
    "examined_share",
    "genre_share",
    "gini",
    "item_counts",
    "items_per_session",
    "jensen_shannon",
    "ks",
    "load_events",
    "pages_per_session",
    "rating_values",
    "ratings_per_day",
    "session_gaps_hours",
    "sessions_per_day",
    "top_share",
    "wasserstein",
]
