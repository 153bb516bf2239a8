"""A/B statistics from one row of metrics per persona and arm, paired by persona.

Chat arms (`analysis.chat_ab`) and search arms (`analysis.search_ab`) each
reduce an arm's run to one row per persona; from there the statistics are
the same: every metric is a mean over the personas where it is defined (not
nan), CIs are percentile intervals of a persona bootstrap shared by the arms
(so the differences stay paired), p-values the bootstrap's two-sided ones,
and significance Holm-adjusted over the metrics of each arm against control,
as for recommender arms (`analysis.ab`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from analysis.abresult import ABResult, ArmMetric, paired_differences
from analysis.bootstrap import FloatArray, percentile_ci, resample_counts


def _means(values: FloatArray, counts: FloatArray) -> FloatArray:
    """Per resample (rows of `counts`), each metric's mean over the personas defining it."""
    defined = np.isfinite(values)
    filled = np.where(defined, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((counts @ filled) / (counts @ defined), dtype=np.float64)


def analyse_per_persona(
    frames: Mapping[str, pl.DataFrame],
    control: str,
    *,
    better: Mapping[str, int],
    guardrails: frozenset[str],
    primary: str,
    what: str,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ABResult:
    """Metrics per arm with bootstrap CIs, and each arm's paired difference to control.

    Args:
        frames: {arm: one row per persona, `persona_id` then a column per metric of `better`}.
        control: the arm the others are held against.
        better: metric -> +1 when higher is better, -1 when lower is.
        guardrails: metrics an arm must not make significantly worse.
        primary: the metric the test is decided on.
        what: what a persona did in an arm, for the error ("talked with", "searched as").
        n_boot: bootstrap resamples of the personas.
        seed: the bootstrap's seed.
        alpha: 1 − the intervals' coverage, and the significance level.

    Raises:
        ValueError: If ``control`` is not an arm, or the arms hold other personas.
    """
    if control not in frames:
        raise ValueError(f"control {control!r} is not one of the arms {sorted(frames)}")
    arms = [control, *(a for a in frames if a != control)]
    personas = frames[control]["persona_id"].to_list()
    for arm in arms:
        if frames[arm]["persona_id"].to_list() != personas:
            raise ValueError(f"arm {arm!r} {what} other personas than {control!r}")
    # A metric no arm defines (no LLM judge, say) is left out rather than shown as nan.
    names = [m for m in better if any(frames[a][m].is_not_nan().any() for a in arms)]
    values = {arm: frames[arm].select(names).to_numpy().astype(np.float64) for arm in arms}
    n = len(personas)
    full = {arm: _means(values[arm], np.ones((1, n)))[0] for arm in arms}
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[FloatArray]] = {arm: [] for arm in arms}
    for counts in resample_counts(n, n_boot, rng, width=len(names)):
        for arm in arms:
            chunks[arm].append(_means(values[arm], counts))
    boot = {arm: np.concatenate(c) for arm, c in chunks.items()}
    metrics = [
        ArmMetric(arm, name, float(full[arm][k]), *percentile_ci(boot[arm][:, k], alpha))
        for arm in arms
        for k, name in enumerate(names)
    ]
    differences = [
        d
        for arm in arms[1:]
        for d in paired_differences(
            arm, control, names, full, boot, alpha, guardrails=guardrails, better=dict(better)
        )
    ]
    return ABResult(
        arms, control, n, alpha, n_boot, metrics, differences, primary=primary,
        better=dict(better),
    )  # fmt: skip
