"""Offline A/B runs of search engines: the same searchers, with the same needs, on each engine.

Every arm is an ordinary search run of the same config with another engine,
so it draws the same topic split, fits the same searcher and gives the same
personas the same needs and arrivals; each persona's decisions come from its
own keyed stream, so where two engines show the same page the persona does
the same thing on both (common random numbers), and what differs between the
arms comes from the engines. The run directory holds `ab.json` (domain
"search") and one search run per arm under `arms/<name>/`; arms run one after
another and a killed A/B run resumes arm by arm.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from simulator.core.abrun import ABRun, ab_folder, arm_resumes, finish_record
from simulator.core.manifest import read_manifest
from simulator.domains.search.config import SearchConfig
from simulator.domains.search.engines.spec import check_engine_name
from simulator.domains.search.run import simulate_search


def simulate_search_ab(
    config: SearchConfig,
    arms: Mapping[str, str],
    out: str | Path,
    *,
    control: str | None = None,
    resume: bool = False,
) -> ABRun:
    """Run every arm's engine with the same searchers into `out/arms/<name>`.

    Args:
        config: the base search run; each arm replaces its `engine`.
        arms: {arm name: an engine, as `--target` names it}; at least two.
        out: the A/B run directory.
        control: the arm the others are held against (default: the first).
        resume: continue a killed run; complete arms are left as they are.
    """
    out = Path(out)
    if len(arms) < 2:
        raise ValueError("an A/B run needs at least two arms (--arm NAME=ENGINE, twice or more)")
    for engine in arms.values():
        check_engine_name(engine)  # a typo is refused before anything runs
    control = control or next(iter(arms))
    if control not in arms:
        raise ValueError(f"control {control!r} is not an arm; arms: {', '.join(arms)}")
    record = {
        "kind": "ab",
        "domain": "search",
        "control": control,
        "arms": {name: {"target": engine, "dir": f"arms/{name}"} for name, engine in arms.items()},
        "crn": True,
        "config": config.model_dump(mode="json"),
    }
    with ab_folder(out, record, resume):  # locked until every arm is done
        dirs = {name: out / "arms" / name for name in arms}
        wall: dict[str, float] = {}
        for name, engine in arms.items():
            state = arm_resumes(dirs[name]) if resume else False
            if state is None:
                continue
            arm = config.model_copy(update={"engine": engine})
            wall[name] = simulate_search(arm, dirs[name], resume=state).run_seconds
        complete = all(arm_resumes(d) is None for d in dirs.values())
        finish_record(out, record, complete, wall)
        events = sum(int(read_manifest(d).get("events", 0)) for d in dirs.values())
        return ABRun(run_dir=out, control=control, arms=dirs, complete=complete,
                     wall_seconds=wall, events=events)  # fmt: skip
