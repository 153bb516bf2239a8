"""Simulated against real behaviour, measured against a split-half human floor.

A distance alone says little: two halves of the same real population already
differ. Each row therefore carries a floor, the distance between random halves
of the real users, and the ratio of the simulated distance to it.

Both numbers are taken on samples of the same size. The users (the union of
both sides' users; in a run, the same persona ids) are split ``n_splits``
times at random into halves A and B, and for each split k

* ``floor_k = d(real[A], real[B])``,
* ``distance_k = (d(sim[A], real[B]) + d(sim[B], real[A])) / 2``,

so the simulated side is always held against real users it does not share,
with half the population on each side, exactly like the floor. The row's
``distance`` and ``floor`` are the means over splits and ``ratio`` their
quotient. Holding all simulated against all real users instead would set a
distance on full populations against a floor on halves, which inflates the
floor (about sqrt(2) for KS and W1, more for Gini and coverage, which depend on
sample size themselves) and flatters the ratio.
When sim and real are the same behaviour the distance equals the floor. A
distance that is undefined (nan: a half lacks the data for a metric) is left
out of the means.
The ``simulated`` and ``real`` summaries are taken on the full populations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from analysis.behaviour import Behaviour
from analysis.distance import jensen_shannon, ks, wasserstein
from analysis.metrics import (
    coverage,
    genre_share,
    gini,
    item_counts,
    items_per_session,
    rating_values,
    ratings_per_day,
    session_gaps_hours,
    sessions_per_day,
    top_share,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ComparisonRow:
    """One metric, simulated against real.

    Attributes:
        metric: Name of the metric.
        distance_name: How the two sides were compared.
        distance: Distance between simulated and real, taken between disjoint
            halves of the users (simulated half A against real half B and B
            against A, averaged, then averaged over splits), so it has the
            same sample size as the floor.
        floor: Mean distance between the same random halves of the real users.
        ratio: ``distance / floor``; nan when the floor is 0 or undefined.
        simulated: One-number summary of the simulated side (a sample's mean,
            a scalar itself, or a distribution's entropy in bits).
        real: The same summary of the real side.
    """

    metric: str
    distance_name: str
    distance: float
    floor: float
    ratio: float
    simulated: float
    real: float

    def as_dict(self) -> dict[str, float | str | None]:
        """The row as a JSON-safe dict; non-finite numbers become None."""
        return {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in asdict(self).items()
        }


@dataclass(frozen=True)
class _Metric:
    name: str
    distance_name: str
    measure: Callable[[Behaviour], FloatArray]
    distance: Callable[[FloatArray, FloatArray], float]
    summary: Callable[[FloatArray], float]


def _scalar(value: float) -> FloatArray:
    return np.array([value], dtype=np.float64)


def _abs_diff(a: FloatArray, b: FloatArray) -> float:
    return float(abs(a[0] - b[0]))


def _mean(x: FloatArray) -> float:
    return float(x.mean()) if x.size else math.nan


def _only(x: FloatArray) -> float:
    return float(x[0])


def _entropy_bits(p: FloatArray) -> float:
    total = float(p.sum())
    if total == 0.0:
        return math.nan
    q = p[p > 0] / total
    return float(-np.sum(q * np.log2(q)))


def _metrics(items: pl.DataFrame, genres: Sequence[str], n_items: int) -> list[_Metric]:
    return [
        _Metric("rating", "wasserstein", rating_values, wasserstein, _mean),
        _Metric("items_per_session", "wasserstein", items_per_session, wasserstein, _mean),
        _Metric("session_gap_hours", "ks", session_gaps_hours, ks, _mean),
        _Metric("sessions_per_day", "wasserstein", sessions_per_day, wasserstein, _mean),
        _Metric("ratings_per_day", "wasserstein", ratings_per_day, wasserstein, _mean),
        _Metric(
            "item_gini",
            "abs_diff",
            lambda b: _scalar(gini(item_counts(b)["n"].to_numpy(), n_items)),
            _abs_diff,
            _only,
        ),
        _Metric(
            "item_top10_share",
            "abs_diff",
            lambda b: _scalar(top_share(b, 0.1)),
            _abs_diff,
            _only,
        ),
        _Metric("coverage", "abs_diff", lambda b: _scalar(coverage(b, n_items)), _abs_diff, _only),
        _Metric(
            "genre_share",
            "jensen_shannon",
            lambda b: genre_share(b, items, genres),
            jensen_shannon,
            _entropy_bits,
        ),
    ]


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _split_half(
    sim: Behaviour, real: Behaviour, metrics: list[_Metric], seed: int, n_splits: int
) -> tuple[list[float], list[float]]:
    """Per metric, the split-half distance and floor (see the module docstring)."""
    users = np.array(sorted(set(sim.users()) | set(real.users())), dtype=object)
    if users.size < 2:
        return [math.nan] * len(metrics), [math.nan] * len(metrics)
    # One generator for all splits: split k is the k-th draw, so results are
    # reproducible for a seed and never touch numpy's global state.
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    half = users.size // 2
    distances: list[list[float]] = [[] for _ in metrics]
    floors: list[list[float]] = [[] for _ in metrics]
    for _ in range(n_splits):
        order = rng.permutation(users.size)
        a, b = users[order[:half]].tolist(), users[order[half:]].tolist()
        halves = (sim.subset(a), sim.subset(b), real.subset(a), real.subset(b))
        for metric, dist, floor in zip(metrics, distances, floors, strict=True):
            sim_a, sim_b, real_a, real_b = (metric.measure(h) for h in halves)
            floor.append(metric.distance(real_a, real_b))
            dist.append(
                _finite_mean([metric.distance(sim_a, real_b), metric.distance(sim_b, real_a)])
            )
    # A split where a half lacks the data for a metric (nan) is left out of its mean.
    return [_finite_mean(d) for d in distances], [_finite_mean(f) for f in floors]


def _ratio(distance: float, floor: float) -> float:
    if not math.isfinite(floor) or floor == 0.0:
        return math.nan
    value = distance / floor
    return value if math.isfinite(value) else math.nan


def compare(
    sim: Behaviour,
    real: Behaviour,
    *,
    items: pl.DataFrame,
    genres: Sequence[str],
    n_items: int,
    seed: int,
    n_splits: int = 5,
) -> list[ComparisonRow]:
    """Compare simulated with real behaviour, metric by metric.

    Rows, in order: rating, items_per_session, session_gap_hours,
    sessions_per_day, ratings_per_day, item_gini, item_top10_share, coverage,
    genre_share.

    Args:
        sim: Simulated behaviour.
        real: Real behaviour.
        items: Catalogue with ``item_id`` and ``genres`` (List of String).
        genres: Genres for the genre-share distribution, in order.
        n_items: Catalogue size, for Gini padding and coverage.
        seed: Seed of the random user splits.
        n_splits: Number of random user splits averaged into each distance
            and floor.

    Returns:
        One row per metric; distance and floor are nan with fewer than two users.

    Raises:
        ValueError: If ``n_splits`` is less than 1.
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    metrics = _metrics(items, genres, n_items)
    distances, floors = _split_half(sim, real, metrics, seed, n_splits)
    rows = []
    for metric, distance, floor in zip(metrics, distances, floors, strict=True):
        rows.append(
            ComparisonRow(
                metric=metric.name,
                distance_name=metric.distance_name,
                distance=distance,
                floor=floor,
                ratio=_ratio(distance, floor),
                simulated=metric.summary(metric.measure(sim)),
                real=metric.summary(metric.measure(real)),
            )
        )
    return rows
