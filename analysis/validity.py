"""Does the simulator rank systems as real people do? Rank agreement with bootstrap CIs.

Each arm (a recommender) has a *real* score, its offline metric against the
users' held-out items, and a *simulated* score, from a CRN A/B run of the same
arms on personas built from the same users. Both are ratios of sums over units
(users = personas), so one bootstrap of the units, applied to both sides,
gives paired replicates of every arm's two scores and so of the rank
correlations between them.

The simulated side may come from an *ensemble*: the same A/B run under several
brains, each calibrated on another bootstrap resample of train. A replicate
then also draws one member, so the simulated scores carry the simulator's own
model uncertainty beside the sampling of personas. A significant simulated
call between two arms is then one that survives both.

A significant call *disagrees* when the simulator says arm j beats arm i
(p < alpha, paired) while the offline metric orders them the other way. Close
arms are often closer offline than its own sampling can tell apart, so the
share is also given over the calls where the offline difference is
significant too (the same paired bootstrap).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy.stats import kendalltau, spearmanr

from analysis.bootstrap import FloatArray, bootstrap_p_value, resample_counts
from analysis.offline import OFFLINE_METRICS

SIMULATED_METRICS = ("ctr", "clicks_per_persona", "ratings_per_persona")
HEADLINE = ("ctr", "ndcg")  # the pair the summary reports


@dataclass(frozen=True)
class RatioData:
    """Per-unit numerators and denominators of one metric, per member and arm.

    ``num`` and ``den`` have shape ``(members, units, arms)``; an arm's score
    under member m is ``Σ num[m, :, a] / Σ den[m, :, a]``.
    """

    num: FloatArray
    den: FloatArray

    def __post_init__(self) -> None:
        if self.num.shape != self.den.shape or self.num.ndim != 3:
            raise ValueError("RatioData needs num and den of one (members, units, arms) shape")

    def point(self) -> FloatArray:
        """Each arm's score, averaged over members."""
        with np.errstate(divide="ignore", invalid="ignore"):
            scores: FloatArray = self.num.sum(axis=1) / self.den.sum(axis=1)
        return np.asarray(scores.mean(axis=0), dtype=np.float64)

    def replicates(self, counts: FloatArray, members: np.ndarray) -> FloatArray:
        """Scores per resample (rows of ``counts``), each under its member ``members[r]``."""
        out = np.empty((counts.shape[0], self.num.shape[2]))
        for m in np.unique(members):
            rows = members == m
            with np.errstate(divide="ignore", invalid="ignore"):
                out[rows] = (counts[rows] @ self.num[m]) / (counts[rows] @ self.den[m])
        return out


def simulated_data(
    tables: Sequence[Mapping[str, pl.DataFrame]], arms: Sequence[str]
) -> dict[str, RatioData]:
    """The simulated metrics from per-persona tables (``analysis.ab_arms.persona_table``).

    Args:
        tables: One mapping per ensemble member, arm name to its persona table;
            every table holds the same personas in the same order.
        arms: The arms, in the order of the result's last axis.

    Returns:
        :data:`SIMULATED_METRICS` as ratio data: CTR is clicks over
        impressions on the recommender's page, clicks are the page's too (not
        those of items that came by another door); all are per persona.

    Raises:
        ValueError: If two tables hold different personas.
    """
    order = tables[0][arms[0]]["persona_id"].to_list()
    for member in tables:
        for arm in arms:
            if member[arm]["persona_id"].to_list() != order:
                raise ValueError(f"arm {arm!r}: its personas differ from arm {arms[0]!r}'s")

    def stack(column: str) -> FloatArray:
        return np.stack(
            [np.column_stack([m[a][column].to_numpy() for a in arms]) for m in tables]
        ).astype(np.float64)

    clicks, ones = stack("page_clicks"), np.ones((len(tables), len(order), len(arms)))
    return {
        "ctr": RatioData(clicks, stack("page_impressions")),
        "clicks_per_persona": RatioData(clicks, ones),
        "ratings_per_persona": RatioData(stack("ratings"), ones),
    }


def offline_data(frames: Mapping[str, pl.DataFrame], arms: Sequence[str]) -> dict[str, RatioData]:
    """The offline metrics (``analysis.offline.offline_scores`` per arm) as ratio data.

    A user without held-out items (a null) counts in no arm's denominator.
    """
    out = {}
    for metric in OFFLINE_METRICS:
        values = np.column_stack([frames[a][metric].to_numpy() for a in arms]).astype(np.float64)
        known = np.isfinite(values)
        out[metric] = RatioData(np.where(known, values, 0.0)[None], known.astype(np.float64)[None])
    return out


@dataclass(frozen=True)
class Agreement:
    """How one simulated metric ranks a set of arms against one offline metric."""

    simulated: str
    offline: str
    arms: int
    kendall_tau: float
    kendall_tau_ci: tuple[float, float]
    spearman_rho: float
    spearman_rho_ci: tuple[float, float]
    pairs: int
    significant_calls: int  # pairs the simulator separates at alpha
    disagreeing_significant: float | None  # share of those ordered against the offline metric
    offline_separated: int  # of those calls, pairs the offline metric separates at alpha too
    disagreeing_where_offline_separates: float | None  # share of those ordered against it


def _correlation(fn: object, x: FloatArray, y: FloatArray) -> float:
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(fn(x, y).statistic)  # type: ignore[operator]


def _ci(values: list[float], alpha: float) -> tuple[float, float]:
    finite = np.array([v for v in values if math.isfinite(v)])
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def agreement(
    names: tuple[str, str],
    simulated: tuple[FloatArray, FloatArray],
    offline: tuple[FloatArray, FloatArray],
    alpha: float = 0.05,
) -> Agreement:
    """Rank agreement of simulated and offline scores of the same arms.

    Args:
        names: (simulated metric, offline metric).
        simulated: (point scores per arm, replicates × arms).
        offline: (point scores per arm, replicates × arms), paired row by row.
        alpha: CI level ``1 − alpha``, and the level of a significant call.

    Returns:
        Kendall τ-b and Spearman ρ with percentile CIs, and the significant
        simulated pairwise calls that the offline metric orders the other way.
    """
    (sim, sim_reps), (off, off_reps) = simulated, offline
    taus = [_correlation(kendalltau, s, o) for s, o in zip(sim_reps, off_reps, strict=True)]
    rhos = [_correlation(spearmanr, s, o) for s, o in zip(sim_reps, off_reps, strict=True)]
    calls = disagreeing = pairs = separated = against = 0
    for i, j in itertools.combinations(range(len(sim)), 2):
        pairs += 1
        observed = float(sim[j] - sim[i])
        p = bootstrap_p_value(sim_reps[:, j] - sim_reps[:, i], observed)
        if not (math.isfinite(p) and p < alpha):
            continue
        calls += 1
        wrong = int(np.sign(observed) != np.sign(off[j] - off[i]))
        disagreeing += wrong
        p_offline = bootstrap_p_value(off_reps[:, j] - off_reps[:, i], float(off[j] - off[i]))
        if math.isfinite(p_offline) and p_offline < alpha:
            separated += 1
            against += wrong
    return Agreement(
        simulated=names[0],
        offline=names[1],
        arms=len(sim),
        kendall_tau=_correlation(kendalltau, sim, off),
        kendall_tau_ci=_ci(taus, alpha),
        spearman_rho=_correlation(spearmanr, sim, off),
        spearman_rho_ci=_ci(rhos, alpha),
        pairs=pairs,
        significant_calls=calls,
        disagreeing_significant=disagreeing / calls if calls else None,
        offline_separated=separated,
        disagreeing_where_offline_separates=against / separated if separated else None,
    )


def rank_validity(
    arms: Sequence[str],
    subsets: Mapping[str, Sequence[str]],
    offline: Mapping[str, RatioData],
    simulated: Mapping[str, RatioData],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, object]:
    """Agreement of every simulated with every offline metric, on each subset of arms.

    Args:
        arms: Every arm, in the order of the data's last axis.
        subsets: A name (``all_arms``, ``close_arms``) to the arms it holds.
        offline: Offline metric name to its ratio data (one member).
        simulated: Simulated metric name to its ratio data (one or more members).
        n_boot: Bootstrap resamples of the units.
        seed: Seed of the resampling stream.
        alpha: CI level and significance level.

    Returns:
        Per subset: the headline pair's figures at top level, every pair under
        ``by_metric``; and ``table``: each arm's point scores.
    """
    units = next(iter(offline.values())).num.shape[1]
    members = next(iter(simulated.values())).num.shape[0]
    rng = np.random.default_rng(seed)
    counts = np.concatenate(list(resample_counts(units, n_boot, rng, width=len(arms))))
    drawn = np.asarray(rng.integers(0, members, size=counts.shape[0]), dtype=np.int64)
    zero: np.ndarray = np.zeros(counts.shape[0], dtype=np.int64)
    off = {k: (d.point(), d.replicates(counts, zero)) for k, d in offline.items()}
    sim = {k: (d.point(), d.replicates(counts, drawn)) for k, d in simulated.items()}
    result: dict[str, object] = {}
    for subset, names in subsets.items():
        cols = [list(arms).index(a) for a in names]
        rows = [
            agreement(
                (s, o),
                (sim[s][0][cols], sim[s][1][:, cols]),
                (off[o][0][cols], off[o][1][:, cols]),
                alpha,
            )
            for s in simulated
            for o in offline
        ]
        headline = next(r for r in rows if (r.simulated, r.offline) == HEADLINE)
        result[subset] = {
            **asdict(headline),
            "arm_names": list(names),
            "by_metric": [asdict(r) for r in rows],
        }
    result["table"] = [
        {
            "arm": arm,
            **{k: float(v[0][a]) for k, v in off.items()},
            **{k: float(v[0][a]) for k, v in sim.items()},
        }
        for a, arm in enumerate(arms)
    ]
    return result
