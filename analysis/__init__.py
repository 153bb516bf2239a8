"""Analysis: traces to polars frames, behaviour metrics, and comparison with real people.

The names below load on first use (PEP 562), so importing one light module of
the package (e.g. `analysis.numbers`) does not load scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Behaviour": "behaviour",
    "behaviour_from_events": "behaviour",
    "behaviour_from_log": "behaviour",
    "behaviour_from_ratings": "behaviour",
    "ComparisonRow": "compare",
    "compare": "compare",
    "jensen_shannon": "distance",
    "ks": "distance",
    "wasserstein": "distance",
    "TraceError": "frames",
    "load_events": "frames",
    **{
        name: "metrics"
        for name in (
            "coverage",
            "ctr",
            "ctr_by_position",
            "examined_share",
            "genre_share",
            "gini",
            "item_counts",
            "items_per_session",
            "pages_per_session",
            "rating_values",
            "ratings_per_day",
            "session_gaps_hours",
            "sessions_per_day",
            "top_share",
        )
    },
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"analysis.{home}"), name)
