"""Simulated search sessions held against real ones: the split-half table and per-step tasks.

Both sides are TREC-shaped sessions (`personas.datasets.trec.SearchSession`),
halved each on its own (`analysis.splithalf.independent_halves`). Times are
compared in log10 seconds, where their heavy tails do not swamp the distance.
Clicks count on the first page only (ranks ≤ PAGE), the one a simulated
searcher is shown: 13 % of TREC 2013's clicks are on later pages.

The per-step tasks are USimAgent's (Zhang et al., 2024), on real held-out
sessions with the fitted model as the predictor: **click** — for every result
shown, will it be clicked (accuracy and F1 over results, the threshold the one
that maximises F1 on the fitting sessions); **stop** — after each query, is it
the session's last (accuracy, threshold 0.5).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.distance import wasserstein
from analysis.splithalf import (
    ComparisonRow,
    FloatArray,
    Metric,
    compare_halves,
    independent_halves,
    mean,
)
from personas.datasets.trec import SearchSession, terms
from simulator.domains.search.model import (
    PAGE,
    REFORMULATIONS,
    SearcherModel,
    click_rows,
    reformulation,
    stop_features,
)


def _each(values: list[float]) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _queries_per_session(sessions: list[SearchSession]) -> FloatArray:
    return _each([len(s.texts()) for s in sessions])


def _query_terms(sessions: list[SearchSession]) -> FloatArray:
    return _each([len(terms(t)) for s in sessions for t in s.texts()])


def _pairs(sessions: list[SearchSession]) -> list[tuple[list[str], list[str]]]:
    out = []
    for s in sessions:
        texts = [terms(t) for t in s.texts()]
        out += list(itertools.pairwise(texts))
    return out


def _new_terms(sessions: list[SearchSession]) -> FloatArray:
    return _each([len(set(b) - set(a)) for a, b in _pairs(sessions)])


def _reformulation_mix(sessions: list[SearchSession]) -> FloatArray:
    kinds = [reformulation(a, b) for a, b in _pairs(sessions)]
    return _each([kinds.count(k) / len(kinds) if kinds else math.nan for k in REFORMULATIONS])


def _total_variation(a: FloatArray, b: FloatArray) -> float:
    return float(0.5 * np.abs(a - b).sum())


def _entropy(p: FloatArray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _clicks_per_query(sessions: list[SearchSession]) -> FloatArray:
    return _each([sum(c.rank <= PAGE for c in q.clicks) for s in sessions for q in s.queries])


def _click_ranks(sessions: list[SearchSession]) -> FloatArray:
    return _each([c.rank for s in sessions for q in s.queries for c in q.clicks if c.rank <= PAGE])


def _first_click(sessions: list[SearchSession]) -> FloatArray:
    return _each(
        [
            math.log10(max(min(c.start for c in q.clicks) - q.start, 0.1))
            for s in sessions
            for q in s.queries
            if q.clicks
        ]
    )


def _dwell(sessions: list[SearchSession]) -> FloatArray:
    return _each(
        [
            math.log10(max(c.dwell, 0.1))
            for s in sessions
            for q in s.queries
            for c in q.clicks
            if c.dwell is not None
        ]
    )


def _duration(sessions: list[SearchSession]) -> FloatArray:
    out = []
    for s in sessions:
        ends = [q.start for q in s.queries] + [
            c.end if c.end is not None else c.start for q in s.queries for c in q.clicks
        ]
        if s.final_start is not None:
            ends.append(s.final_start)
        if ends:
            out.append(math.log10(max(max(ends), 1.0)))
    return _each(out)


METRICS: list[Metric[list[SearchSession]]] = [
    Metric("queries_per_session", "wasserstein", _queries_per_session, wasserstein, mean),
    Metric("query_terms", "wasserstein", _query_terms, wasserstein, mean),
    Metric("new_terms", "wasserstein", _new_terms, wasserstein, mean),
    Metric("reformulations", "TV", _reformulation_mix, _total_variation, _entropy),
    Metric("clicks_per_query", "wasserstein", _clicks_per_query, wasserstein, mean),
    Metric("click_rank", "wasserstein", _click_ranks, wasserstein, mean),
    Metric("first_click_log10_s", "wasserstein", _first_click, wasserstein, mean),
    Metric("dwell_log10_s", "wasserstein", _dwell, wasserstein, mean),
    Metric("session_log10_s", "wasserstein", _duration, wasserstein, mean),
]


def compare_sessions(
    sim: Sequence[SearchSession], real: Sequence[SearchSession], *, seed: int = 0, n_splits: int = 5
) -> list[ComparisonRow]:
    """One row per metric of METRICS: split-half distance, floor and ratio."""
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    sims, reals = list(sim), list(real)
    return compare_halves(METRICS, sims, reals, independent_halves(sims, reals, seed, n_splits))


@dataclass(frozen=True)
class StepTasks:
    """USimAgent's per-step predictions, scored on real sessions."""

    click_accuracy: float
    click_f1: float
    click_threshold: float
    results: int
    clicked_share: float  # of the results: "never clicked" scores 1 − this accuracy
    stop_accuracy: float
    queries: int
    majority_stop_accuracy: float  # always guessing the commoner of stop / go on

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def _click_data(
    model: SearcherModel, sessions: Sequence[SearchSession]
) -> tuple[np.ndarray, np.ndarray]:
    x, y, _ = click_rows(sessions)
    if not x:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return model.click.marginal(np.array(x)), np.array(y)


def _f1(p: np.ndarray, y: np.ndarray, threshold: float) -> float:
    chosen = p >= threshold
    tp = int((chosen & y).sum())
    return 2 * tp / (int(chosen.sum()) + int(y.sum())) if chosen.sum() + y.sum() else 0.0


def step_tasks(
    model: SearcherModel, fitted_on: Sequence[SearchSession], heldout: Sequence[SearchSession]
) -> StepTasks:
    """Click and stop prediction on `heldout`, the click threshold chosen on `fitted_on`."""
    p_fit, y_fit = _click_data(model, fitted_on)
    grid = np.linspace(0.02, 0.9, 89)
    threshold = float(grid[int(np.argmax([_f1(p_fit, y_fit, t) for t in grid]))])
    p, y = _click_data(model, heldout)
    stops, truth = [], []
    for session in heldout:
        for index, query in enumerate(session.queries):
            x = np.array([stop_features(index + 1, len(query.clicks))])
            stops.append(model.stop.p(x)[0] >= 0.5)
            truth.append(index + 1 == len(session.texts()))
    return StepTasks(
        click_accuracy=float(((p >= threshold) == y).mean()) if y.size else math.nan,
        click_f1=_f1(p, y, threshold),
        click_threshold=threshold,
        results=int(y.size),
        clicked_share=float(y.mean()) if y.size else math.nan,
        stop_accuracy=float(np.mean(np.array(stops) == np.array(truth))) if stops else math.nan,
        queries=len(stops),
        majority_stop_accuracy=max(float(np.mean(truth)), 1 - float(np.mean(truth)))
        if truth
        else math.nan,
    )
