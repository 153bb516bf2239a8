"""Offline A/B runs: the same personas, the same random streams, one arm per target.

Every arm is an ordinary run of the same config with another `target`, so it
builds the same personas from the same seed, and each persona draws the same
arrivals, glances and choices wherever its situation is the same (common
random numbers): what differs between arms comes from the arms. With
`crn=False` each arm keys the behaviour streams by its own name instead,
which is what an experiment on real people is like, and what the variance
reduction is measured against.

The run directory holds `ab.json` and one run directory per arm under
`arms/<name>/`. Arms run in separate processes where the machine has cores
for them; a killed A/B run resumes arm by arm.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from simulator.core.abrun import ABRun, ab_folder, arm_resumes, finish_record
from simulator.core.manifest import read_manifest
from simulator.core.refs import import_file
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import Prepared, member_config, simulate
from simulator.domains.recsys.targets import check_target
from simulator.domains.recsys.targets.spec import target_origin

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def parse_arms(specs: Sequence[str], check: Callable[[str], None] = check_target) -> dict[str, str]:
    """`NAME=TARGET` strings as {name: target}; names are unique, targets pass `check`."""
    arms: dict[str, str] = {}
    for spec in specs:
        name, sep, target = spec.partition("=")
        name, target = name.strip(), target.strip()
        if not sep or not name or not target:
            raise ValueError(f"--arm {spec!r}: write NAME=TARGET, e.g. --arm knn=itemknn")
        if not set(name) <= _NAME_CHARS:
            raise ValueError(f"--arm {spec!r}: a name is letters, digits, '_', '-' or '.'")
        if name in arms:
            raise ValueError(f"--arm {spec!r}: the name {name!r} is used twice")
        check(target)
        arms[name] = target
    return arms


def arm_config(config: RunConfig, name: str, target: str, crn: bool) -> RunConfig:
    """The config of one arm: another target, and its own streams unless CRN."""
    return config.model_copy(update={"target": target, "stream_key": None if crn else name})


def _start_worker(parent: int, origins: tuple[tuple[str, str], ...]) -> None:
    """A worker's initializer: load what registered the arms, and die with the parent.

    A target a scenario (or a package) registered exists only once that file has
    run, so each worker loads it as the parent did: arms resolve alike in both.
    """
    for n, (kind, where) in enumerate(origins):
        if kind == "module":
            importlib.import_module(where)
        else:
            import_file(Path(where), f"simfolk_arms_{n}")
    _die_with(parent)


def _die_with(parent: int) -> None:
    """Exit once the A/B parent is gone (killed, say).

    Without it a killed `simfolk ab` leaves its workers running every arm, re-parented,
    beside the `--resume` that follows.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _run_arm(config_json: str, out: str, resume: bool) -> float:
    """Run one arm (in a worker process); the simulation's wall seconds."""
    config = RunConfig.model_validate_json(config_json)
    return simulate(config, out, resume=resume).run_seconds


def simulate_ab(
    config: RunConfig,
    arms: Mapping[str, str],
    out: str | Path,
    *,
    control: str | None = None,
    crn: bool = True,
    resume: bool = False,
    workers: int | None = None,
    prepared: Prepared | None = None,
    ensemble: int = 1,
) -> ABRun:
    """Run every arm of an A/B experiment into `out/arms/<name>`.

    Args:
        config: the base run; each arm replaces its `target`.
        arms: {arm name: target name}; at least two.
        out: the A/B run directory.
        control: the arm the others are held against (default: the first).
        crn: common random numbers across arms (see the module docstring).
        resume: continue a killed run; complete arms are left as they are.
        workers: processes (default: one per arm, at most one per core);
            1 runs the arms here, one after another.
        prepared: the data side, prepared already (in-process runs only).
        ensemble: brains whose disagreement the statistics carry: the arms' own runs,
            plus `ensemble - 1` brains calibrated on bootstrap resamples of train, each
            with its own taste-space size (`domains.recsys.run.member_config`), each running
            every arm under
            `members/<m>/<name>` (see `analysis.ab.analyse_ab`).
    """
    out = Path(out)
    if len(arms) < 2:
        raise ValueError("an A/B run needs at least two arms (--arm NAME=TARGET, twice or more)")
    for target in arms.values():
        check_target(target)
    control = control or next(iter(arms))
    if ensemble < 1:
        raise ValueError(f"ensemble must be at least 1, got {ensemble}")
    if ensemble > 1 and not config.calibrate:
        raise ValueError("an ensemble of brains needs calibration (each member is fitted)")
    if control not in arms:
        raise ValueError(f"control {control!r} is not an arm; arms: {', '.join(arms)}")
    record = {
        "kind": "ab",
        "control": control,
        "arms": {name: {"target": t, "dir": f"arms/{name}"} for name, t in arms.items()},
        "crn": crn,
        "config": config.model_dump(mode="json"),
        "members": [{name: f"members/{m}/{name}" for name in arms} for m in range(ensemble - 1)],
    }
    with ab_folder(out, record, resume):  # locked until every arm is done
        dirs = {name: out / "arms" / name for name in arms}
        runs: dict[tuple[int | None, str], tuple[Path, RunConfig]] = {
            (None, name): (dirs[name], arm_config(config, name, target, crn))
            for name, target in arms.items()
        }
        for m in range(ensemble - 1):
            member = member_config(config, m)
            for name, target in arms.items():
                runs[(m, name)] = (
                    out / "members" / str(m) / name,
                    arm_config(member, name, target, crn),
                )
        jobs = []
        for key, (where, arm) in runs.items():
            state = arm_resumes(where) if resume else False
            if state is not None:
                jobs.append((key, where, arm, state))
        seconds: dict[tuple[int | None, str], float] = {}
        workers = workers or min(len(jobs), os.cpu_count() or 1)
        if workers <= 1 or len(jobs) <= 1:
            for key, where, arm, again in jobs:
                # The prepared data side is the plain brain's: a member fits its own taste space.
                ready = prepared if key[0] is None else None
                seconds[key] = simulate(arm, where, resume=again, prepared=ready).run_seconds
        else:
            # Spawned, not forked: a fork would copy the parent's threads (polars, BLAS) mid-lock.
            context = multiprocessing.get_context("spawn")
            found = (target_origin(target) for target in arms.values())
            origins = tuple(sorted({origin for origin in found if origin is not None}))
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(), origins),
            ) as pool:
                futures = {
                    key: pool.submit(_run_arm, arm.model_dump_json(), str(where), again)
                    for key, where, arm, again in jobs
                }
                seconds = {key: future.result() for key, future in futures.items()}
        wall: dict[str, float] = {}
        for (_, name), value in seconds.items():
            wall[name] = wall.get(name, 0.0) + value
        complete = all(arm_resumes(where) is None for where, _ in runs.values())
        finish_record(out, record, complete, wall)
        events = sum(int(read_manifest(where).get("events", 0)) for where, _ in runs.values())
        return ABRun(
            run_dir=out,
            control=control,
            arms=dirs,
            complete=complete,
            wall_seconds=wall,
            events=events,
        )
