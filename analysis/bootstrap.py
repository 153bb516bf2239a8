"""The persona bootstrap every A/B analysis shares: resamples, CIs, p-values, Holm.

A resample draws personas with replacement; as count matrices, a resampled
sum is ``counts @ values``, so every arm of an experiment is scored on the same
draw and the differences stay paired.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from statsmodels.stats.multitest import multipletests

FloatArray = npt.NDArray[np.float64]
# Bootstrap rows per chunk are sized so one chunk's dense products stay near this many cells.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class PairedBootstrap:
    """A paired bootstrap of ``b − a`` for a ratio-of-sums statistic."""

    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _chunk_rows(n_units: int, n_boot: int, width: int = 1) -> int:
    return max(1, min(n_boot, _CHUNK_CELLS // max(1, n_units + width)))


def resample_counts(
    n_units: int, n_boot: int, rng: np.random.Generator, width: int = 1
) -> Iterator[FloatArray]:
    """Bootstrap resamples of ``n_units`` units as count matrices, in chunks.

    Row ``r`` of a chunk holds how often each unit was drawn in resample ``r``
    (indices drawn with replacement, ``n_units`` per resample), so a resampled
    sum is ``counts @ values``.

    Args:
        n_units: Units (personas) per resample.
        n_boot: Resamples in all.
        rng: The random stream.
        width: Cells per resample of the widest product taken on a chunk, to bound memory.

    Yields:
        Float count matrices of shape ``(rows, n_units)``, rows summing to ``n_boot``.
    """
    rows = _chunk_rows(n_units, n_boot, width)
    done = 0
    while done < n_boot:
        size = min(rows, n_boot - done)
        idx = rng.integers(0, n_units, size=(size, n_units))
        offset = (np.arange(size, dtype=np.int64) * n_units)[:, None]
        flat = np.bincount((idx + offset).ravel(), minlength=size * n_units)
        yield flat.reshape(size, n_units).astype(np.float64)
        done += size


def safe_ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """`num / den` elementwise, nan (not a warning) where `den` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num / den, dtype=np.float64)


def percentile_ci(samples: FloatArray, alpha: float) -> tuple[float, float]:
    """The ``1 − alpha`` percentile interval of the finite replicates (nan if none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_p_value(boot_diffs: FloatArray, observed: float) -> float:
    """Two-sided p-value of ``observed`` from its bootstrap distribution.

    The bootstrap distribution, centred at the observed value, stands in for
    the null distribution: ``p = (1 + #{|d* − d̂| ≥ |d̂|}) / (B + 1)``, with
    non-finite resamples left out of ``B``.

    Args:
        boot_diffs: Bootstrap replicates ``d*`` of the difference.
        observed: The observed difference ``d̂``.

    Returns:
        The p-value in (0, 1], or nan when ``d̂`` or every replicate is not finite.
    """
    finite = boot_diffs[np.isfinite(boot_diffs)]
    if not math.isfinite(observed) or finite.size == 0:
        return math.nan
    extreme = int(np.count_nonzero(np.abs(finite - observed) >= abs(observed)))
    return (1 + extreme) / (finite.size + 1)


def paired_bootstrap(
    num_a: npt.ArrayLike,
    den_a: npt.ArrayLike,
    num_b: npt.ArrayLike,
    den_b: npt.ArrayLike,
    rng: np.random.Generator,
    n_boot: int = 2000,
    alpha: float = 0.05,
) -> PairedBootstrap:
    """Paired percentile bootstrap of ``Σnum_b/Σden_b − Σnum_a/Σden_a`` over units.

    Unit ``i`` of ``a`` and of ``b`` is the same unit (a persona under two arms),
    so each resample draws units once and applies the draw to both.

    Args:
        num_a: Per-unit numerators under ``a``.
        den_a: Per-unit denominators under ``a``.
        num_b: Per-unit numerators under ``b``.
        den_b: Per-unit denominators under ``b``.
        rng: The random stream.
        n_boot: Resamples.
        alpha: The CI covers ``1 − alpha``.

    Returns:
        Both statistics, their difference, its CI and two-sided p-value.

    Raises:
        ValueError: If the four arrays are not one-dimensional of one length.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (num_a, den_a, num_b, den_b)]
    if any(x.ndim != 1 or x.shape != arrays[0].shape for x in arrays):
        raise ValueError("paired_bootstrap needs four 1-d arrays of one length")
    values = np.column_stack(arrays)
    a = float(safe_ratio(values[:, 0].sum(), values[:, 1].sum()))
    b = float(safe_ratio(values[:, 2].sum(), values[:, 3].sum()))
    chunks = []
    for counts in resample_counts(values.shape[0], n_boot, rng, width=4):
        sums = counts @ values
        chunks.append(safe_ratio(sums[:, 2], sums[:, 3]) - safe_ratio(sums[:, 0], sums[:, 1]))
    boot = np.concatenate(chunks)
    low, high = percentile_ci(boot, alpha)
    return PairedBootstrap(a, b, b - a, low, high, bootstrap_p_value(boot, b - a))


def holm(p: FloatArray, alpha: float) -> FloatArray:
    """Holm-adjusted p-values (nan where `p` is nan)."""
    adjusted = np.full_like(p, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], alpha=alpha, method="holm")[1]
    return adjusted
