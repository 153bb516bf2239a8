"""A/B statistics of search engine arms: the same searchers and needs, paired by persona.

Each persona lives one session per arm. Per session:

* ``sat_click``: it had a satisfied click — one read for at least 30 s, the
  usual threshold in web search logs (Fox et al., 2005) — the primary metric;
* ``clicked``: it had any click;
* ``reciprocal_rank``: over its queries with a page, the mean of 1 / the rank
  of the first click (0 where none was clicked);
* ``abandoned_queries``: the share of its queries with a page that got no
  click (the guardrail: an arm must not raise it);
* ``empty_pages``: the share of its queries the engine found nothing for;
* ``queries``: how many queries it typed (the logged last one too);
* ``seconds_to_sat_click``: from its start to its first satisfied click, in
  sessions that had one.

The statistics are `analysis.per_persona_ab`'s (a persona bootstrap shared by
the arms, paired differences, Holm-adjusted), so the terminal table and the
report show a search A/B run as they show any other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from analysis.abresult import ABResult
from analysis.per_persona_ab import analyse_per_persona
from analysis.search_runs import sessions_from_run
from personas.datasets.trec import SearchSession

SAT_DWELL_S = 30.0
# metric -> +1 when higher is better, -1 when lower is
METRICS: dict[str, int] = {
    "sat_click": 1,
    "clicked": 1,
    "reciprocal_rank": 1,
    "abandoned_queries": -1,
    "empty_pages": -1,
    "queries": -1,
    "seconds_to_sat_click": -1,
}
GUARDRAILS = frozenset({"abandoned_queries"})
PRIMARY = "sat_click"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def session_row(session: SearchSession) -> dict[str, float]:
    """One session's metrics (nan where undefined)."""
    clicks = [c for q in session.queries for c in q.clicks]
    sat = sorted(c.start for c in clicks if c.dwell is not None and c.dwell >= SAT_DWELL_S)
    paged = [q for q in session.queries if q.results]
    return {
        "sat_click": float(bool(sat)),
        "clicked": float(bool(clicks)),
        "reciprocal_rank": _mean(
            [1.0 / min(c.rank for c in q.clicks) if q.clicks else 0.0 for q in paged]
        ),
        "abandoned_queries": _mean([float(not q.clicks) for q in paged]),
        "empty_pages": _mean([float(not q.results) for q in session.queries]),
        "queries": float(len(session.texts())),
        "seconds_to_sat_click": sat[0] if sat else math.nan,
    }


def session_metrics(run_dir: str | Path) -> pl.DataFrame:
    """One row per persona of a search run: its session's metrics, by persona."""
    rows = [
        {"persona_id": s.id.split("/")[0], **session_row(s)} for s in sessions_from_run(run_dir)
    ]
    schema = {"persona_id": pl.String, **dict.fromkeys(METRICS, pl.Float64)}
    return pl.DataFrame(rows, schema=schema).sort("persona_id")


def analyse_search_ab(
    arm_dirs: Mapping[str, str | Path],
    control: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ABResult:
    """Metrics per engine arm with bootstrap CIs, and each arm's paired difference to control."""
    frames = {arm: session_metrics(path) for arm, path in arm_dirs.items()}
    return analyse_per_persona(
        frames, control, better=METRICS, guardrails=GUARDRAILS, primary=PRIMARY,
        what="searched as", n_boot=n_boot, seed=seed, alpha=alpha,
    )  # fmt: skip
