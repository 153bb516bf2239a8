"""What an A/B analysis finds, whatever the domain: per-arm metrics, paired differences."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.bootstrap import FloatArray, bootstrap_p_value, holm, json_safe, percentile_ci


@dataclass(frozen=True)
class ArmMetric:
    """One metric of one arm, with its percentile bootstrap CI."""

    arm: str
    metric: str
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Difference:
    """One metric of one arm against control, paired by persona.

    ``diff`` is arm − control; ``rel_diff`` is ``diff / control_value``.
    ``p_adjusted`` is Holm-adjusted over all metrics of this arm-vs-control
    comparison; ``significant`` is ``p_adjusted < alpha``. A guardrail metric is
    ``violated`` when the arm is significantly worse than control on it.
    """

    arm: str
    control: str
    metric: str
    control_value: float
    arm_value: float
    diff: float
    rel_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    significant: bool
    guardrail: bool
    violated: bool


@dataclass(frozen=True)
class ABResult:
    """Per-arm metrics and differences to control of an offline A/B run."""

    arms: list[str]
    control: str
    personas: int
    alpha: float
    n_boot: int
    metrics: list[ArmMetric]
    differences: list[Difference]
    ensemble: int = 1  # brains whose disagreement the CIs carry (1: personas only)
    primary: str = "ctr"  # the metric the test is decided on
    better: dict[str, int] = field(default_factory=dict)  # metric -> -1 where lower is better

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite numbers become None."""
        return json_safe(asdict(self))

    def winners(self) -> dict[str, str | None]:
        """The best arm per metric, judged against control.

        For each metric: among the arms significantly better than control
        (significant and ``diff > 0``), the one with the highest value; if there
        is none but some arm is significantly worse, the control; if no arm
        differs significantly, None.

        Returns:
            Metric name to arm name or None, for every metric.
        """
        out: dict[str, str | None] = {}
        for metric in dict.fromkeys(d.metric for d in self.differences):
            sign = self.better.get(metric, 1)
            rows = [d for d in self.differences if d.metric == metric and d.significant]
            better = [d for d in rows if d.diff * sign > 0]
            if better:
                out[metric] = max(better, key=lambda d: d.arm_value * sign).arm
            elif any(d.diff * sign < 0 for d in rows):
                out[metric] = self.control
            else:
                out[metric] = None
        return out


def paired_differences(
    arm: str,
    control: str,
    names: Sequence[str],
    full: Mapping[str, FloatArray],
    boot: Mapping[str, FloatArray],
    alpha: float,
    *,
    guardrails: frozenset[str],
    better: Mapping[str, int] | None = None,
    p_values: Mapping[str, float] | None = None,
) -> list[Difference]:
    """Each metric of `arm` against `control`, from estimates and paired bootstrap replicates.

    `full[a]` holds arm a's estimate per metric (in `names` order), `boot[a]` its
    replicates (resamples × metrics, the same resamples for every arm). The p-value
    is the bootstrap's unless `p_values` gives one (coverage's permutation test);
    Holm's correction runs over the arm's metrics. A guardrail is violated when the
    arm is significantly worse, in the metric's `better` direction (+1 by default).
    """
    better = better or {}
    diffs = full[arm] - full[control]
    boot_diffs = boot[arm] - boot[control]
    p = np.array([bootstrap_p_value(boot_diffs[:, k], diffs[k]) for k in range(len(names))])
    for name, value in (p_values or {}).items():
        p[list(names).index(name)] = value
    adjusted = holm(p, alpha)
    out = []
    for k, name in enumerate(names):
        c, d = float(full[control][k]), float(diffs[k])
        low, high = percentile_ci(boot_diffs[:, k], alpha)
        significant = bool(adjusted[k] < alpha)
        guardrail = name in guardrails
        out.append(
            Difference(
                arm=arm,
                control=control,
                metric=name,
                control_value=c,
                arm_value=float(full[arm][k]),
                diff=d,
                rel_diff=d / c if c != 0 and math.isfinite(c) else math.nan,
                ci_low=low,
                ci_high=high,
                p_value=float(p[k]),
                p_adjusted=float(adjusted[k]),
                significant=significant,
                guardrail=guardrail,
                violated=guardrail and significant and d * better.get(name, 1) < 0,
            )
        )
    return out
