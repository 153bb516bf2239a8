"""Run a simulation end to end: data -> personas -> target -> world -> trace.

`simulate` is what scenario scripts and the CLI call. A run directory holds
`manifest.json`, `personas.json`, `events/part-*.parquet`, `timeseries.parquet`
and, while a run can still be continued, `checkpoint.msgpack`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis.frames import RunFrames
from personas.atomic import write_text_atomically
from personas.datasets import Split, load_dataset, split_ratings
from personas.datasets.split import split_rule
from personas.sampled import SAMPLED_FILE, People
from simulator.core.loops import in_thread, outside_running_loop
from simulator.core.manifest import (
    MANIFEST_VERSION,
    environment,
    file_sha256,
    git_revision,
    package_versions,
)
from simulator.core.rng import Streams
from simulator.core.rundir import (
    PERSONAS_FILE,
    claim,
    drive,
    finish,
    read_run_file,
    record,
    restore,
    run_id,
    write_parquet_atomically,
)
from simulator.domains.recsys.brains import LLM_BRAINS, REFLECTIVE_BRAINS, check_brain_name
from simulator.domains.recsys.calibrate import Calibration, calibrate, resample_weights
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.columnar.world import ColumnarWorld, check_columnar
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.exposure.runtime import FRIENDS_FILE
from simulator.domains.recsys.interfaces import Recommender, as_interactions
from simulator.domains.recsys.targets import check_target, make_target
from simulator.domains.recsys.targets.spec import Factory, built
from simulator.domains.recsys.world import World
from simulator.llm.session import language_model, llm_manifest, llm_usage
from simulator.population import (
    Population,
    PopulationSettings,
    fit_population,
    run_personas,
    start_personas,
    with_personas_file,
)
from simulator.trace import SCHEMA_VERSION, TraceWriter

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Prepared(Population):
    """The data side of a recommender run: the population's, plus the catalogue."""

    catalog: Catalog


@dataclass(frozen=True)
class RunResult(RunFrames):
    """What a finished (or paused) run produced."""

    run_dir: Path
    events: int
    days_done: int
    complete: bool
    resumed: bool
    status: str  # complete, paused, or why it stopped early (budget_exhausted)
    wall_seconds: float
    run_seconds: float = 0.0  # wall time of the simulation itself (no data loading)


# An ensemble member differs in structure as well as in data: each fits its taste space
# (so the affinity its choice model reads) with another number of dimensions.
MEMBER_TASTE_DIMS = (8, 32, 16, 64)


def member_config(config: RunConfig, member: int) -> RunConfig:
    """The config of ensemble member `member`: a bootstrap resample and its own taste size."""
    dims = MEMBER_TASTE_DIMS[member % len(MEMBER_TASTE_DIMS)]
    return config.model_copy(update={"ensemble_member": member, "taste_dims": dims})


def member_weights(config: Any, split: Split) -> dict[int, int] | None:
    """The bootstrap resample of the train users an ensemble member fits on (None: no member)."""
    member = getattr(config, "ensemble_member", None)
    if member is None:
        return None
    users = np.unique(split.train["user_id"].to_numpy()).tolist()
    return resample_weights(users, getattr(config, "seed", 0), member)


def prepare(config: PopulationSettings) -> Prepared:
    """Load the dataset, split it, fit the taste space (per member) and the catalogue."""
    dataset = load_dataset(config.dataset)
    split = split_ratings(dataset.ratings, config.holdout, config.min_train, timed=dataset.timed)
    population = fit_population(config, dataset, split, user_weights=member_weights(config, split))
    catalog = Catalog.build(
        dataset.items, dataset.genres, split.train, population.space, dataset.words
    )
    return Prepared(dataset=dataset, split=split, space=population.space, catalog=catalog)


def train_interactions(split: Split) -> pl.DataFrame:
    """The train ratings as the target sees them (users keyed by their dataset id)."""
    return as_interactions(split.train)


def _manifest(config: RunConfig, prep: Prepared, out: Path, personas: People) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "trace_schema_version": SCHEMA_VERSION,
        "config": config.model_dump(mode="json"),
        "root_seed": config.seed,
        "dataset": {
            "name": prep.dataset.name,
            "path": str(prep.dataset.path),
            "format": prep.dataset.format,
            "sha256": prep.dataset.sha256,
        },
        "split": {
            "holdout": config.holdout,
            "min_train": config.min_train,
            "rule": split_rule(config.split_label, prep.dataset.timed),
        },
        "taste_space": prep.space.id,
        "personas": _persona_files(out, personas),
        "target": config.target,
        "brain": config.brain,
        "versions": package_versions(),
        "environment": environment(),
        "git_revision": git_revision(),
        "status": "running",
    }


@contextmanager
def _closed_after(target: object) -> Iterator[None]:
    """Close a target that holds a connection (a service) however the run ends."""
    try:
        yield
    finally:
        close = getattr(target, "close", None)
        if callable(close):
            close()


def _described(target: object) -> str:
    """What the manifest calls a target given as an object: `python:module.Class`."""
    kind = (
        target
        if isinstance(target, type) or (callable(target) and not hasattr(target, "recommend"))
        else type(target)
    )
    return f"python:{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}"


def _mind_factory(config: RunConfig) -> Callable[[], Any]:
    from simulator.minds.reflective_memory import ReflectiveMemory

    return lambda: ReflectiveMemory(config.mind)


def _persona_files(out: Path, personas: People) -> dict[str, Any]:
    """The manifest's record of the persona files: counts and sha256 (readers check them)."""
    entry: dict[str, Any] = {
        "file": PERSONAS_FILE,
        "count": len(personas),
        "sha256": file_sha256(out / PERSONAS_FILE),
    }
    if personas.sampled is not None:
        entry["sampled"] = {
            "file": SAMPLED_FILE,
            "count": len(personas.sampled),
            "sha256": file_sha256(out / SAMPLED_FILE),
        }
    return entry


def _calibration(
    config: RunConfig, prep: Prepared, personas: People, out: Path, resume: bool
) -> Calibration | None:
    """Fit (or, on resume, reload) the calibrated brain parameters; saved beside the personas."""
    if not config.calibrate:
        return None
    path = out / CALIBRATION_FILE
    if resume and path.exists():
        return read_run_file(path, Calibration, "calibration")
    excluded = frozenset(
        p.provenance.user_id
        for p in personas.real  # sampled personas are no dataset user
        if config.calibration_users == "others" and p.provenance.user_id is not None
    )
    calibration = calibrate(
        prep.dataset,
        prep.split.train,
        seed=config.seed,
        dims=config.taste_dims,
        min_train=config.min_train,
        exclude_users=excluded,
        user_weights=member_weights(config, prep.split),
        exposure=config.exposure,
    )
    write_text_atomically(path, calibration.model_dump_json(indent=2))
    return calibration


def fitted_config(config: RunConfig, calibration: Calibration | None) -> RunConfig:
    """`config` with what calibration fitted: the brain's coefficients and the doors."""
    if calibration is None:
        return config
    update: dict[str, Any] = {"utility": calibration.params}
    if calibration.exposure is not None:
        update["exposure"] = calibration.exposure.apply(config.exposure)
    return config.model_copy(update=update)


async def asimulate(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """`simulate`, to await: the run goes to a worker thread, the caller's loop stays free.

    Callbacks (`on_step`, `on_day`, `on_llm`) are called from that thread.
    """
    return await in_thread(simulate, config, out, **options)


@outside_running_loop
def simulate(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    until_day: int | None = None,
    on_day: Callable[[World], None] | None = None,
    on_llm: Callable[[Any], None] | None = None,
    prepared: Prepared | None = None,
    target: Recommender | Factory | None = None,
) -> RunResult:
    """Run (or resume) `config` into `out`; stop after `until_day` days if given.

    `on_llm`, if given, is called with the run's LLM client once it is open (a
    bench uses it to record the requests sent). `prepared`, if given, is
    `prepare(config)` done already (a bench running many seeds on one dataset).
    `target`, if given, is the system under test itself (a recommender, or a
    factory taking the catalogue and the run's streams) instead of `config.target`;
    a resume needs the same one again.
    """
    started = time.perf_counter()
    out = Path(out)
    config = with_personas_file(config)
    # Names first: a typo should not cost a dataset load.
    if target is None:
        check_target(config.target)
    check_brain_name(config.brain)
    if config.engine == "columnar":
        check_columnar(config)
    if config.shards > 1 and (config.engine != "columnar" or target is not None):
        raise ValueError(
            "--shards runs the columnar engine with a target by name (each shard builds its "
            "own copy): use --engine columnar and a registered --target, or --shards 1"
        )
    with claim(out, config, resume) as resume:  # from here on: whether it continues
        streams = Streams(config.seed)
        prep = prepared or prepare(config)
        if prep.dataset.feedback == "implicit" and config.brain == "llm":
            raise ValueError(
                f"brain 'llm' rates what it picks, and {prep.dataset.name} has no ratings "
                "(implicit feedback: counts); use --brain hybrid or utility, whose fitted "
                "count model says how many times"
            )
        personas = run_personas(out) if resume else start_personas(config, prep, streams, out)
        calibration = _calibration(config, prep, personas, out, resume)
        effective = fitted_config(config, calibration)
        thinks = config.brain in LLM_BRAINS
        with language_model(config.llm, out) if thinks else nullcontext() as llm:
            if llm is not None and on_llm is not None:
                on_llm(llm)
            return _simulate(
                config,
                effective,
                out,
                prep,
                personas,
                calibration,
                streams,
                resume,
                until_day,
                on_day,
                started,
                llm=llm,
                given=target,
            )


def _simulate(
    config: RunConfig,
    effective: RunConfig,
    out: Path,
    prep: Prepared,
    personas: People,
    calibration: Calibration | None,
    streams: Streams,
    resume: bool,
    until_day: int | None,
    on_day: Callable[[World], None] | None,
    started: float,
    *,
    llm: Any,
    given: Recommender | Factory | None,
) -> RunResult:
    if given is None:
        target = make_target(config.target, prep.catalog, streams)
    else:
        target = built(given, prep.catalog, streams, where=_described(given))
    with ExitStack() as stack:
        stack.enter_context(_closed_after(target))
        train = train_interactions(prep.split)
        engine = ColumnarWorld if config.engine == "columnar" else World
        world = engine(
            config=effective,
            personas=personas,
            catalog=prep.catalog,
            target=target,
            train=train,
            rating_scale=prep.dataset.rating_scale,
            trace=TraceWriter(out, config.part_rows, run_id(config)),
            streams=streams,
            llm=llm,
            mind=_mind_factory(effective) if config.brain in REFLECTIVE_BRAINS else None,
        )
        stack.enter_context(_closed_after(getattr(world, "shards", None)))  # Ray actors
        state = restore(world, out, resume)
        if state is None:  # a resume's target continues from its checkpointed state instead
            world.fit_target(train)
        manifest = _manifest(config, prep, out, personas)
        if given is not None:
            manifest["target"] = _described(given)
        if callable(describe := getattr(target, "describe", None)):
            manifest["target_service"] = describe()
        manifest["calibration"] = calibration.model_dump(mode="json") if calibration else None
        manifest["llm"] = llm_manifest(llm) if llm is not None else None
        manifest["exposure"] = None
        if world.exposure is not None:
            manifest["exposure"] = {**world.exposure.summary(), "friends_file": FRIENDS_FILE}
            write_parquet_atomically(world.exposure.friendships(), out / FRIENDS_FILE)
        manifest = record(out, manifest, resume, {"from_day": world.day})
        running = time.perf_counter()
        drive(
            world,
            out,
            lambda checkpoint: world.run(until_day, on_day=on_day, checkpoint=checkpoint),
            closers=[llm.aclose] if llm is not None else [],
            ledger=getattr(llm, "ledger", None),
        )
        run_seconds = time.perf_counter() - running
        complete = world.day >= config.days or world.halted is not None
        manifest = finish(
            world,
            out,
            manifest,
            complete=complete,
            usage=llm_usage(out) if llm is not None else None,
            days_done=world.day,
        )
        return RunResult(
            run_dir=out,
            events=world.trace.next_seq,
            days_done=world.day,
            complete=complete,
            resumed=state is not None,
            status=manifest["status"],
            run_seconds=run_seconds,
            wall_seconds=time.perf_counter() - started,
        )
