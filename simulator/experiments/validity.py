"""`simfolk bench validity`: does the simulator rank recommenders as real users do?

Every arm is fitted on train and scored twice:

* **real**: its top-10 against each user's held-out items (hit rate, recall,
  NDCG), the offline evaluation of `analysis.offline`;
* **simulated**: CTR, clicks and ratings per persona in one CRN A/B run of all
  the arms, on personas built from the same users' train histories.

`analysis.validity` then reports Kendall τ and Spearman ρ between the two
rankings, with bootstrap CIs, over all arms and over the close ones (the
collaborative-filtering variants), and the share of the simulator's
significant pairwise calls that the offline metric orders the other way.

Two protocols:

* ``heldout``: every train user is a persona and the brain is calibrated on
  all of them. Partly circular by construction: the choice model is fitted to
  pick each user's *later* train items from never-rated ones, with a PureSVD
  affinity as a feature, which is the very target the offline metric scores,
  on the same people.
* ``disjoint``: a random half of the users are personas and scored; the
  brain is calibrated only on the other half. Nothing fitted has seen the
  scored people's later items, so agreement cannot come from fitting them.

`--ensemble M` also runs the A/B under M more brains, each with its taste
space and calibration fitted on another bootstrap resample of the users and
with its own taste-space size (`simulator.domains.recsys.run.member_config`), so
the simulated calls carry the simulator's own model uncertainty
(`analysis.validity`). The same run then reports both: `single_brain` (the
plain brain alone) and, at top level, the ensemble.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from analysis.ab_arms import persona_table
from analysis.bootstrap import json_safe
from analysis.frames import run_personas
from analysis.offline import heldout_items, offline_scores
from analysis.validity import offline_data, rank_validity, simulated_data
from simulator.core.rng import Streams
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.exposure.config import ExposureConfig
from simulator.domains.recsys.run import member_config, prepare, train_interactions
from simulator.domains.recsys.targets import FAMILIES, check_target, make_target, target_names
from simulator.population import sample_users

Protocol = Literal["heldout", "disjoint"]
PROTOCOLS: tuple[Protocol, ...] = ("heldout", "disjoint")
ALL_USERS = 10**9  # more personas than any dataset has users: all of them


def bench_validity(
    *,
    dataset: str,
    arms: Sequence[str] | None = None,
    protocol: Protocol = "heldout",
    personas: int | None = None,
    days: int = 7,
    seed: int = 0,
    ensemble: int = 1,
    k: int = 10,
    n_boot: int = 1000,
    workers: int | None = None,
    out: str | Path | None = None,
    exposure: ExposureConfig | None = None,
) -> dict[str, Any]:
    """Rank agreement between simulated and offline scores of recommender arms.

    Args:
        dataset: A dataset name or path.
        arms: Registered target names (default: every registered target).
        protocol: ``heldout`` or ``disjoint`` (see the module docstring).
        personas: Personas to draw (default: every user; ``disjoint`` halves them).
        days: Simulated days of the A/B run.
        seed: Root seed.
        ensemble: Brains in the ensemble; 1 is the run's own calibration.
        k: The offline cut-off.
        n_boot: Bootstrap resamples.
        workers: Processes for the A/B arms (default: one per core).
        out: Keep the A/B runs here (default: a temporary folder).
        exposure: The doors of the simulated sessions (default: the page only).

    Returns:
        A JSON-ready object: ``all_arms``, ``close_arms``, ``table`` and the setup.
    """
    names = list(arms or target_names())
    if len(names) < 3:
        raise ValueError("the validity bench needs at least three arms (--arms a,b,c)")
    for name in names:
        check_target(name)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    if ensemble < 1:
        raise ValueError(f"--ensemble must be at least 1, got {ensemble}")
    started = time.perf_counter()
    base = RunConfig(
        scenario="bench-validity",
        dataset=dataset,
        days=days,
        seed=seed,
        exposure=exposure or ExposureConfig(),
    )
    prep = prepare(base)
    eligible = len(sample_users(prep.split, ALL_USERS, Streams(seed)))
    wanted = min(personas or eligible, eligible)
    if protocol == "disjoint":
        wanted = min(wanted, eligible // 2)
    base = base.model_copy(
        update={
            "personas": wanted,
            "target": names[0],
            "calibration_users": "others" if protocol == "disjoint" else None,
        }
    )
    members: list[int | None] = [None, *range(ensemble)] if ensemble > 1 else [None]
    with tempfile.TemporaryDirectory(prefix="simfolk-bench-validity-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        timings: dict[str, float] = {}
        tables = []
        for member in members:
            config = base if member is None else member_config(base, member)
            run = simulate_ab(
                config,
                {name: name for name in names},
                root / ("plain" if member is None else f"member-{member}"),
                control=names[0],
                workers=workers,
                prepared=None if workers != 1 else prep if member is None else prepare(config),
            )
            tables.append({name: persona_table(path) for name, path in run.arms.items()})
            for name, seconds in run.wall_seconds.items():
                timings[name] = timings.get(name, 0.0) + seconds
        users = [p.target_user for p in run_personas(run.arms[names[0]])]
    offline_started = time.perf_counter()
    train, heldout = train_interactions(prep.split), heldout_items(prep.split.heldout)
    frames = {}
    for name in names:
        target = make_target(name, prep.catalog, Streams(seed))
        target.fit(train)
        frames[name] = offline_scores(target, heldout, users, k)
    close = [name for name in names if FAMILIES.get(name) == "cf"]
    subsets = {"all_arms": names, "close_arms": close} if len(close) >= 3 else {"all_arms": names}
    offline = offline_data(frames, names)
    result = rank_validity(
        names, subsets, offline, simulated_data(tables[-ensemble:], names), n_boot=n_boot, seed=seed
    )
    if ensemble > 1:
        single = rank_validity(
            names, subsets, offline, simulated_data(tables[:1], names), n_boot=n_boot, seed=seed
        )
        result["single_brain"] = {subset: single[subset] for subset in subsets}
    for row in result["table"]:  # type: ignore[attr-defined]
        row["family"] = FAMILIES.get(row["arm"], "other")
    return json_safe(
        {
            "dataset": prep.dataset.name,
            "protocol": protocol,
            "personas": wanted,
            "scored_users": sum(1 for u in users if heldout.get(u)),
            "days": days,
            "seed": seed,
            "ensemble": ensemble,
            "exposure": base.exposure.model_dump(mode="json"),
            "k": k,
            "n_boot": n_boot,
            **result,
            "wall_seconds": {
                "simulation_per_arm": timings,
                "offline": time.perf_counter() - offline_started,
                "total": time.perf_counter() - started,
            },
        }
    )
