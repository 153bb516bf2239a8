"""`simfolk bench aa`: does the A/B machinery say "no difference" when there is none?

Two checks of the statistics, on real simulated runs:

* **A/A false positives.** Both arms use the same recommender but their own
  random streams (no common random numbers), seed after seed. At α = 0.05 a
  sound test flags about 5% of (seed, metric) pairs before correction, and
  fewer families after Holm's.
* **Variance reduction.** The same A/B experiment (two different recommenders)
  with and without common random numbers; the ratio of the widths of the
  paired-difference CIs says how much sharper CRN makes the same experiment.

Runs share one prepared dataset, so a seed costs two small simulations and
their bootstrap.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from analysis.ab import analyse_ab_dir
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import prepare


def bench_aa(
    *,
    seeds: int,
    personas: int,
    days: int,
    dataset: str,
    target: str,
    versus: str,
    crn_seeds: int,
    n_boot: int,
    alpha: float = 0.05,
    calibrate: bool = False,
    ensemble: int = 1,
) -> dict[str, Any]:
    """A/A false-positive rates over `seeds`, and CI widths with and without CRN.

    By default the brain keeps its priors: the statistics are under test, not the
    choice model. `calibrate` fits it per seed, which also turns on the return
    model, so the guardrails (sessions, return rate) can move between arms.
    `ensemble` > 1 (needs `calibrate`) runs every experiment under that many brains
    (`simulate_ab(ensemble=)`), so the rates are those of the ensemble's intervals.
    """
    if ensemble > 1 and not calibrate:
        raise ValueError("an ensemble of brains needs calibration (pass calibrate)")
    base = RunConfig(
        scenario="bench-aa",
        dataset=dataset,
        personas=personas,
        days=days,
        target=target,
        calibrate=calibrate,
    )
    prep = prepare(base)
    p_values: dict[str, list[float]] = {}
    families = 0
    widths: dict[str, dict[str, list[float]]] = {"crn": {}, "independent": {}}
    with tempfile.TemporaryDirectory(prefix="simfolk-bench-aa-") as tmp:
        for seed in range(seeds):
            config = base.model_copy(update={"seed": seed})
            out = Path(tmp) / f"aa-{seed}"
            arms = {"a": target, "b": target}
            simulate_ab(config, arms, out, crn=False, workers=1, prepared=prep, ensemble=ensemble)
            result = analyse_ab_dir(out, n_boot=n_boot, seed=seed, alpha=alpha)
            for d in result.differences:
                p_values.setdefault(d.metric, []).append(d.p_value)
            families += any(d.significant for d in result.differences)
        for seed in range(crn_seeds):
            config = base.model_copy(update={"seed": 10_000 + seed})
            for mode, crn in (("crn", True), ("independent", False)):
                out = Path(tmp) / f"ab-{mode}-{seed}"
                simulate_ab(
                    config,
                    {"a": target, "b": versus},
                    out,
                    crn=crn,
                    workers=1,
                    prepared=prep,
                    ensemble=ensemble,
                )
                result = analyse_ab_dir(out, n_boot=n_boot, seed=seed, alpha=alpha)
                for d in result.differences:
                    widths[mode].setdefault(d.metric, []).append(d.ci_high - d.ci_low)
    rates = {m: float(np.mean(np.asarray(p) < alpha)) for m, p in p_values.items()}
    pooled = [x for p in p_values.values() for x in p]
    ratio = {m: _ratio(widths["crn"][m], widths["independent"].get(m, [])) for m in widths["crn"]}
    return {
        "seeds": seeds,
        "personas": personas,
        "days": days,
        "dataset": dataset,
        "target": target,
        "alpha": alpha,
        "n_boot": n_boot,
        "ensemble": ensemble,
        "false_positive_rate": {
            "per_metric": rates,
            "pooled": float(np.mean(np.asarray(pooled) < alpha)) if pooled else math.nan,
            "tests": len(pooled),
            "any_metric_after_holm": families / seeds if seeds else math.nan,
        },
        "ci_width": {
            "versus": versus,
            "seeds": crn_seeds,
            "crn": {m: float(np.mean(w)) for m, w in widths["crn"].items()},
            "independent": {m: float(np.mean(w)) for m, w in widths["independent"].items()},
            "ratio_crn_to_independent": ratio,
        },
    }


def _ratio(crn: list[float], independent: list[float]) -> float:
    if not crn or not independent or float(np.mean(independent)) == 0.0:
        return math.nan
    return float(np.mean(crn) / np.mean(independent))
