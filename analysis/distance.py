"""Distances between two samples or two distributions."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats


def _sample(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64).ravel()


def wasserstein(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Wasserstein-1 (earth mover's) distance between two samples.

    Args:
        a: First sample.
        b: Second sample.

    Returns:
        The distance in the samples' own units, or nan if either is empty.
    """
    x, y = _sample(a), _sample(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    return float(stats.wasserstein_distance(x, y))


def ks(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic.

    Args:
        a: First sample.
        b: Second sample.

    Returns:
        The largest gap between the two empirical CDFs, or nan if either is empty.
    """
    x, y = _sample(a), _sample(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    # Only the statistic is used: the asymptotic p-value is cheap, and its
    # floating-point warnings on degenerate samples (e.g. one point each) are moot.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(stats.ks_2samp(x, y, method="asymp").statistic)


def _kl_to_mix(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    # KL(p || (p+q)/2) written as log2(2p / (p+q)): halving a subnormal p would
    # underflow the mixture to 0. Terms with p == 0 contribute 0.
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(2.0 * p[mask] / (p[mask] + q[mask]))))


def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1].

    Args:
        p: Non-negative weights; normalised here.
        q: Non-negative weights of the same length; normalised here.

    Returns:
        The divergence, or nan if either side sums to 0.

    Raises:
        ValueError: If the lengths differ or a weight is negative.
    """
    x, y = _sample(p), _sample(q)
    if x.shape != y.shape:
        raise ValueError(f"jensen_shannon needs equal lengths, got {x.size} and {y.size}")
    if np.any(x < 0) or np.any(y < 0):
        raise ValueError("jensen_shannon needs non-negative weights")
    sx, sy = float(x.sum()), float(y.sum())
    if sx == 0.0 or sy == 0.0:
        return math.nan
    x, y = x / sx, y / sy
    value = 0.5 * _kl_to_mix(x, y) + 0.5 * _kl_to_mix(y, x)
    # Rounding can step just outside the mathematical range.
    return min(max(value, 0.0), 1.0)
