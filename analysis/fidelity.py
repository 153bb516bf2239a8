"""How faithful are the persona agents to the real users they were built from?

Three protocols, all on personas built from the *train* part of each user's
history and scored against that user's *held-out* part:

- **micro** (Agent4Rec's list task): a persona reads a list of at most 20 items,
  its held-out items (positives) among ``m`` times as many items it never rated
  (negatives), and says which it would watch (``P(watch) >= 0.5``). Confusion
  counts are pooled over users per ratio ``m``.
- **ratings**: for every held-out rating, the rating the persona would most likely
  give against the real one (RMSE, MAE, Wasserstein-1 between the two samples).
- **macro**: a short simulation of the same population, held against the real
  held-out period by :func:`analysis.run_compare.compare_run`.

Every draw comes from a generator keyed by (seed, persona, purpose), so a seed
gives the same figures twice. Wall times are taken here, never inside agents.

This module runs them and holds the macro protocol; the population, the list
task and the ratings live in :mod:`analysis.fidelity_population`,
:mod:`analysis.fidelity_lists` and :mod:`analysis.fidelity_ratings`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.fidelity_brains import DeliberateTasks, ListTaskBrain, list_brain
from analysis.fidelity_lists import DEFAULT_RATIOS, MicroResult, check_ratio, micro_protocol
from analysis.fidelity_population import Population, population
from analysis.fidelity_ratings import RatingResult, rating_protocol
from analysis.run_compare import RunComparison, compare_run
from simulator.domains.recsys.brains import LLM_BRAINS, check_brain_name
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.calibrate import calibrate
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import (
    Prepared,
    fitted_config,
    simulate,
)
from simulator.domains.recsys.targets import check_target
from simulator.llm.session import language_model

SCENARIO = "bench-fidelity"


def _fitted(prep: Prepared, config: RunConfig) -> RunConfig:
    """`config` with the brain's parameters and the doors fitted as `simulate` fits them.

    They come from :func:`simulator.domains.recsys.calibrate.calibrate` on the train split
    (``config.calibrate`` off: the config as it is).
    """
    if not config.calibrate:
        return config
    calibration = calibrate(
        prep.dataset,
        prep.split.train,
        seed=config.seed,
        dims=config.taste_dims,
        min_train=config.min_train,
        exposure=config.exposure,
    )
    return fitted_config(config, calibration)


@dataclass(frozen=True)
class MacroResult:
    """A short simulation of the population, compared with the real held-out period."""

    comparison: RunComparison

    def as_dict(self) -> dict[str, Any]:
        """Exactly `simfolk compare --json`: `{"rows": [...], "simulated": {...}}`."""
        return self.comparison.as_dict()


def macro_config(config: RunConfig, personas: int, params: UtilityParams) -> RunConfig:
    """The run the macro protocol simulates: the bench's config and its fitted parameters.

    The parameters are passed in (calibration off) so the run uses exactly what the
    list task used, without fitting them a second time.
    """
    return config.model_copy(
        update={"scenario": SCENARIO, "personas": personas, "calibrate": False, "utility": params}
    )


def macro_protocol(
    config: RunConfig,
    personas: int,
    params: UtilityParams,
    workdir: str | Path | None = None,
) -> MacroResult:
    """Simulate `personas` users for `config.days` days and compare with the real ones.

    The run goes to ``workdir/run`` (kept) or to a temporary folder (removed).
    """
    run_config = macro_config(config, personas, params)
    if workdir is not None:
        out = Path(workdir) / "run"
        simulate(run_config, out)
        return MacroResult(compare_run(out))
    with tempfile.TemporaryDirectory(prefix="simfolk-bench-") as tmp:
        out = Path(tmp) / "run"
        simulate(run_config, out)
        return MacroResult(compare_run(out))


@dataclass(frozen=True)
class FidelityReport:
    """Everything `simfolk bench fidelity` reports."""

    dataset_name: str
    dataset_sha256: str
    seed: int
    users: int
    sampled: int
    params: UtilityParams
    micro: list[MicroResult]
    ratings: RatingResult
    macro: MacroResult | None
    wall_seconds: dict[str, float]
    failed: dict[str, int] = field(default_factory=dict)  # LLM answers not given, by task

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready object; only `wall_seconds` differs between runs with one seed."""
        return {
            "micro": [m.as_dict() for m in self.micro],
            "ratings": self.ratings.as_dict(),
            "macro": self.macro.as_dict() if self.macro is not None else None,
            "users": self.users,
            "seed": self.seed,
            "dataset": {"name": self.dataset_name, "sha256": self.dataset_sha256},
            "params": self.params.model_dump(mode="json"),
            "wall_seconds": dict(self.wall_seconds),
            "brain_failures": dict(self.failed),
        }


def fidelity(
    config: RunConfig,
    *,
    users: int | None = None,
    ratios: Sequence[int] = DEFAULT_RATIOS,
    macro: bool = True,
    workdir: str | Path | None = None,
) -> FidelityReport:
    """Run the micro, ratings and (if `macro`) macro protocols on one population.

    Args:
        config: Dataset, seed, brain, target, days and split of the bench.
        users: How many users to draw (all if None or larger).
        ratios: Negatives per positive of the list task.
        macro: Whether to run the simulation too.
        workdir: Where to keep the macro run; a temporary folder if None.

    Raises:
        ValueError: On an unknown brain or target, a bad dataset, no usable users
            or a brain that cannot answer the list task.
    """
    check_brain_name(config.brain)
    check_target(config.target)
    ratios = tuple(ratios)
    if not ratios:
        raise ValueError("at least one ratio is needed")
    for ratio in ratios:
        check_ratio(ratio)
    wall: dict[str, float] = {}
    started = time.perf_counter()
    pop = population(config, users)
    config = _fitted(pop.prep, config)
    params = config.utility
    with ExitStack() as stack:
        llm = None
        if config.brain in LLM_BRAINS:
            llm = stack.enter_context(language_model(config.llm, run_dir=None))
        brain = list_brain(pop, params, llm)
        if isinstance(brain, DeliberateTasks):
            stack.callback(brain.close)
        return _protocols(config, pop, params, brain, ratios, macro, workdir, wall, started)


def _protocols(
    config: RunConfig,
    pop: Population,
    params: UtilityParams,
    brain: ListTaskBrain | DeliberateTasks,
    ratios: Sequence[int],
    macro: bool,
    workdir: str | Path | None,
    wall: dict[str, float],
    started: float,
) -> FidelityReport:
    wall["prepare"] = time.perf_counter() - started
    started = time.perf_counter()
    micro = micro_protocol(pop, brain, ratios)
    wall["micro"] = time.perf_counter() - started
    started = time.perf_counter()
    ratings = rating_protocol(pop, brain)
    wall["ratings"] = time.perf_counter() - started
    macro_result = None
    if macro:
        started = time.perf_counter()
        macro_result = macro_protocol(config, pop.sampled, params, workdir)
        wall["macro"] = time.perf_counter() - started
    return FidelityReport(
        dataset_name=pop.prep.dataset.name,
        dataset_sha256=pop.prep.dataset.sha256,
        seed=config.seed,
        users=len(pop.personas),
        sampled=pop.sampled,
        params=params,
        micro=micro,
        ratings=ratings,
        macro=macro_result,
        wall_seconds=wall,
        failed=dict(brain.failed) if isinstance(brain, DeliberateTasks) else {},
    )
