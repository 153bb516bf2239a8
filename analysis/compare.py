"""Simulated against real browsing behaviour, measured against a split-half human floor.

The engine is `analysis.splithalf`'s; this module says what is measured and
how a browsing population is halved. Both numbers are taken on samples of the
same size. The users (the union of both sides' users; in a run, the same
persona ids) are split ``n_splits``
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

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from analysis.behaviour import Behaviour
from analysis.distance import jensen_shannon, ks, wasserstein
from analysis.metrics import (
    coverage,
    genre_share,
    gini,
    item_counts,
    items_per_session,
    play_counts,
    rating_values,
    ratings_per_day,
    session_gaps_hours,
    sessions_per_day,
    top_share,
)
from analysis.splithalf import (
    ComparisonRow,
    FloatArray,
    Halves,
    Metric,
    abs_diff,
    compare_halves,
    mean,
    only,
    scalar,
    split_generator,
)
from personas.datasets.dataset import Feedback

__all__ = ["ComparisonRow", "compare"]


def _entropy_bits(p: FloatArray) -> float:
    total = float(p.sum())
    if total == 0.0:
        return float("nan")
    q = p[p > 0] / total
    return float(-np.sum(q * np.log2(q)))


def _metrics(
    items: pl.DataFrame, genres: Sequence[str], n_items: int, feedback: Feedback, timed: bool
) -> list[Metric[Behaviour]]:
    liked = (
        Metric("rating", "wasserstein", rating_values, wasserstein, mean)
        if feedback == "explicit"
        else Metric("plays_log", "wasserstein", play_counts, wasserstein, mean)
    )
    # A log without times says nothing of visits: those rows would hold one side only.
    visits = [
        Metric("items_per_session", "wasserstein", items_per_session, wasserstein, mean),
        Metric("session_gap_hours", "ks", session_gaps_hours, ks, mean),
        Metric("sessions_per_day", "wasserstein", sessions_per_day, wasserstein, mean),
        Metric("ratings_per_day", "wasserstein", ratings_per_day, wasserstein, mean),
    ]
    by_genre: list[Metric[Behaviour]] = [
        Metric(
            "genre_share",
            "jensen_shannon",
            lambda b: genre_share(b, items, genres),
            jensen_shannon,
            _entropy_bits,
        ),
    ]
    return [
        liked,
        *(visits if timed else []),
        Metric(
            "item_gini",
            "abs_diff",
            lambda b: scalar(gini(item_counts(b)["n"].to_numpy(), n_items)),
            abs_diff,
            only,
        ),
        Metric("item_top10_share", "abs_diff", lambda b: scalar(top_share(b, 0.1)), abs_diff, only),
        Metric("coverage", "abs_diff", lambda b: scalar(coverage(b, n_items)), abs_diff, only),
        # Items without categories (an artist log without tags) have no genre share.
        *(by_genre if genres else []),
    ]


def _halves(
    sim: Behaviour, real: Behaviour, seed: int, n_splits: int
) -> Iterator[Halves[Behaviour]]:
    """Random halves of the users both sides share (see the module docstring)."""
    users = np.array(sorted(set(sim.users()) | set(real.users())), dtype=object)
    if users.size < 2:
        return
    rng = split_generator(seed)
    half = users.size // 2
    for _ in range(n_splits):
        order = rng.permutation(users.size)
        a, b = users[order[:half]].tolist(), users[order[half:]].tolist()
        real_a = real.subset(a)
        yield Halves(sim.subset(a), sim.subset(b), real_a, real.subset(b), real_a)


def compare(
    sim: Behaviour,
    real: Behaviour,
    *,
    items: pl.DataFrame,
    genres: Sequence[str],
    n_items: int,
    seed: int,
    n_splits: int = 5,
    feedback: Feedback = "explicit",
    timed: bool = True,
) -> list[ComparisonRow]:
    """Compare simulated with real behaviour, metric by metric.

    Rows, in order: rating, items_per_session, session_gap_hours,
    sessions_per_day, ratings_per_day, item_gini, item_top10_share, coverage,
    genre_share. For implicit feedback ``plays_log`` (log(1 + count) per
    consumption) stands in for ``rating``; without times the four visit rows
    are left out.

    Args:
        sim: Simulated behaviour.
        real: Real behaviour.
        items: Catalogue with ``item_id`` and ``genres`` (List of String).
        genres: Genres for the genre-share distribution, in order.
        n_items: Catalogue size, for Gini padding and coverage.
        seed: Seed of the random user splits.
        n_splits: Number of random user splits averaged into each distance
            and floor.
        feedback: The data's kind: ratings, or counts (implicit).
        timed: Whether the real side has times.

    Returns:
        One row per metric; distance and floor are nan with fewer than two users.

    Raises:
        ValueError: If ``n_splits`` is less than 1.
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    metrics = _metrics(items, genres, n_items, feedback, timed)
    return compare_halves(metrics, sim, real, _halves(sim, real, seed, n_splits))
