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
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from analysis.distance import wasserstein
from analysis.run_compare import RunComparison, compare_run
from personas.builder import build_personas
from personas.datasets import RatingScale
from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import ActionSpace
from simulator.domains.recsys.brains import LLM_BRAINS, check_brain_name, make_brain
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.calibrate import calibrate
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import (
    Prepared,
    fitted_config,
    prepare,
    simulate,
)
from simulator.domains.recsys.targets import check_target_name
from simulator.llm.session import language_model
from simulator.population import sample_users

MAX_LIST = 20
DEFAULT_RATIOS = (1, 3, 9)
WATCH_THRESHOLD = 0.5
SCENARIO = "bench-fidelity"


@runtime_checkable
class ListTaskBrain(Protocol):
    """A brain that can answer the list task and predict a rating."""

    def watch_probabilities(self, persona: Persona, item_ids: list[int]) -> np.ndarray:
        """P(would watch) for each item of a list read whole."""
        ...

    def predicted_rating(self, persona: Persona, item_id: int, scale: RatingScale) -> float:
        """The rating the persona would most likely give, on the scale."""
        ...


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def check_ratio(ratio: int) -> int:
    """Return `ratio` if a list of ``MAX_LIST`` items can hold it with one positive.

    Raises:
        ValueError: When it is not a whole number from 1 to ``MAX_LIST - 1``.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, int) or not 1 <= ratio <= MAX_LIST - 1:
        raise ValueError(
            f"ratio {ratio!r} is out of range; negatives per positive must be a whole number "
            f"from 1 to {MAX_LIST - 1}, so that a list of {MAX_LIST} holds a positive"
        )
    return ratio


def parse_ratios(text: str) -> tuple[int, ...]:
    """Parse "1,3,9" into (1, 3, 9); see :func:`check_ratio` for what a ratio may be.

    Raises:
        ValueError: On an empty list, a non-integer, a ratio out of range or a repeat.
    """
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise ValueError(f"--ratios: expected whole numbers separated by commas, got {text!r}")
    ratios: list[int] = []
    for part in parts:
        try:
            ratio = int(part)
        except ValueError:
            raise ValueError(f"--ratios: {part!r} is not a whole number (in {text!r})") from None
        try:
            check_ratio(ratio)
        except ValueError as exc:
            raise ValueError(f"--ratios: {exc}") from None
        if ratio in ratios:
            raise ValueError(f"--ratios: {ratio} is given twice (in {text!r})")
        ratios.append(ratio)
    return tuple(ratios)


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
class Population:
    """The bench's users: personas from train, their held-out and all their rated items."""

    prep: Prepared
    config: RunConfig
    personas: list[Persona]
    heldout: pl.DataFrame  # the personas' held-out rows, by user, time, item
    rated: dict[int, np.ndarray]  # user -> every item rated (train or held-out), sorted
    sampled: int  # users drawn before dropping those without held-out ratings

    def user_of(self, persona: Persona) -> int:
        """The dataset user the persona was built from."""
        user = persona.provenance.user_id
        if user is None:
            raise ValueError(f"persona {persona.id!r} has no dataset user")
        return user


def population(config: RunConfig, users: int | None = None) -> Population:
    """Prepare the data and build personas, from train only, for the sampled users.

    Users are drawn as :func:`simulator.population.sample_users` draws them (all if
    ``users`` is None or larger than the train population); those without a
    held-out rating are then left out, since they have nothing to be scored on.
    """
    if users is not None and users < 1:
        raise ValueError(f"--users must be at least 1, got {users}")
    prep = prepare(config)
    n = users if users is not None else prep.split.train["user_id"].n_unique()
    sampled = sample_users(prep.split, n, Streams(config.seed))
    with_heldout = set(prep.split.heldout["user_id"].unique().to_list())
    chosen = [u for u in sampled if u in with_heldout]
    if not chosen:
        raise ValueError(
            f"none of the {len(sampled)} sampled users of {prep.dataset.name} has a held-out "
            "rating; nothing to score"
        )
    personas = build_personas(
        prep.dataset, prep.split.train, chosen, space=prep.space, split_label=config.split_label
    )
    heldout = prep.split.heldout.filter(pl.col("user_id").is_in(chosen))
    both = pl.concat(
        [prep.split.train.select("user_id", "item_id"), heldout.select("user_id", "item_id")]
    ).filter(pl.col("user_id").is_in(chosen))
    rated = {
        int(uid): np.unique(frame["item_id"].to_numpy())
        for (uid,), frame in both.partition_by("user_id", as_dict=True).items()
    }
    return Population(
        prep=prep,
        config=config,
        personas=personas,
        heldout=heldout,
        rated=rated,
        sampled=len(sampled),
    )


@dataclass(frozen=True)
class ListTask:
    """One list shown to one persona: the items in shown order and which are positives."""

    persona_id: str
    user_id: int
    ratio: int
    items: tuple[int, ...]
    positives: frozenset[int]

    @property
    def labels(self) -> np.ndarray:
        """1 for a held-out (positive) item, 0 for a negative, in list order."""
        return np.array([item in self.positives for item in self.items], dtype=np.int64)


def build_list(
    persona: Persona,
    user_id: int,
    heldout_items: Sequence[int],
    rated: np.ndarray,
    catalog: Catalog,
    ratio: int,
    streams: Streams,
) -> ListTask:
    """The list task for one persona and ratio.

    Positives: the earliest distinct held-out items, ``n_pos = min(len, 20 // (1 + m))``.
    Negatives: ``m * n_pos`` catalogue items the user never rated, uniformly without
    replacement (fewer only if the catalogue runs out). Both draws are keyed by
    (persona, purpose).
    """
    n_pos = min(len(heldout_items), MAX_LIST // (1 + ratio))
    positives = [int(i) for i in heldout_items[:n_pos]]
    pool = np.setdiff1d(catalog.item_ids, rated)
    negatives_rng = streams.generator(persona.id, f"bench:negatives:{ratio}")
    negatives = negatives_rng.choice(pool, size=min(ratio * n_pos, len(pool)), replace=False)
    items = np.array(positives + [int(i) for i in negatives], dtype=np.int64)
    order = streams.generator(persona.id, f"bench:order:{ratio}").permutation(len(items))
    return ListTask(
        persona_id=persona.id,
        user_id=user_id,
        ratio=ratio,
        items=tuple(int(i) for i in items[order]),
        positives=frozenset(positives),
    )


def _heldout_items(pop: Population) -> dict[int, list[int]]:
    """Each user's distinct held-out items, earliest first."""
    return {
        int(uid): frame.unique("item_id", keep="first", maintain_order=True)["item_id"].to_list()
        for (uid,), frame in pop.heldout.partition_by(
            "user_id", as_dict=True, maintain_order=True
        ).items()
    }


def build_lists(pop: Population, ratio: int) -> list[ListTask]:
    """The list task of every persona of the population for one ratio."""
    streams = Streams(pop.config.seed)
    heldout = _heldout_items(pop)
    lists = []
    for persona in pop.personas:
        user = pop.user_of(persona)
        lists.append(
            build_list(
                persona, user, heldout[user], pop.rated[user], pop.prep.catalog, ratio, streams
            )
        )
    return lists


@dataclass(frozen=True)
class Confusion:
    """Pooled confusion counts of a binary choice; positive = "would watch"."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, chosen: np.ndarray) -> Confusion:
        """Count from 0/1 truths and 0/1 choices."""
        labels, chosen = np.asarray(labels, dtype=bool), np.asarray(chosen, dtype=bool)
        return cls(
            tp=int((labels & chosen).sum()),
            fp=int((~labels & chosen).sum()),
            fn=int((labels & ~chosen).sum()),
            tn=int((~labels & ~chosen).sum()),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """All decisions counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        """Share of right decisions; nan when there are none."""
        return (self.tp + self.tn) / self.total if self.total else math.nan

    @property
    def precision(self) -> float:
        """Share of chosen items that were positives; 0 when nothing is chosen."""
        chosen = self.tp + self.fp
        return self.tp / chosen if chosen else 0.0

    @property
    def recall(self) -> float:
        """Share of positives chosen; 0 when there are none."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class MicroResult:
    """The list task at one ratio, pooled over users (micro-averaged)."""

    ratio: int
    confusion: Confusion
    lists: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, with the pooled counts."""
        c = self.confusion
        return {
            "ratio": self.ratio,
            "accuracy": _finite(c.accuracy),
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "lists": self.lists,
            "tp": c.tp,
            "fp": c.fp,
            "fn": c.fn,
            "tn": c.tn,
        }


class DeliberateTasks:
    """A brain that answers the tasks with a language model: all of a protocol's calls at once.

    A list or a rating the model could not give (after its repairs) is left out
    of the pooled figures and counted, never replaced by a guess.
    """

    def __init__(self, brain: Any, scale: RatingScale, seed: int) -> None:
        self.brain = brain
        self.space = ActionSpace(item_ids=(), rating_scale=scale)
        self.seed = seed
        self.loop = asyncio.new_event_loop()
        self.failed = {"lists": 0, "ratings": 0}

    def _all(self, coroutines: list[Any]) -> list[Any]:
        from simulator.llm import LLMFailure

        async def gather() -> list[Any]:
            return list(await asyncio.gather(*coroutines, return_exceptions=True))

        results = self.loop.run_until_complete(gather())
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, LLMFailure):
                raise result
        return [None if isinstance(r, BaseException) else r for r in results]

    def watch_many(self, tasks: list[tuple[Persona, list[int]]]) -> list[np.ndarray | None]:
        """The list task for every (persona, items) at once; None where the model failed."""
        answers = self._all(
            [
                self.brain.watch_list(persona, items, self.space, seed=self.seed + i)
                for i, (persona, items) in enumerate(tasks)
            ]
        )
        self.failed["lists"] += sum(a is None for a in answers)
        return answers

    def rate_many(self, rows: list[tuple[Persona, int]], chunk: int = 10) -> list[float | None]:
        """A rating for every (persona, item); None where the model failed."""
        by_persona: dict[str, list[int]] = {}
        personas: dict[str, Persona] = {}
        for index, (persona, _item) in enumerate(rows):
            by_persona.setdefault(persona.id, []).append(index)
            personas[persona.id] = persona
        jobs, slots = [], []
        for pid, indices in by_persona.items():
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                items = [rows[i][1] for i in part]
                jobs.append(
                    self.brain.rate_items(
                        personas[pid], items, self.space, seed=self.seed + part[0]
                    )
                )
                slots.append(part)
        predicted: list[float | None] = [None] * len(rows)
        for part, answer in zip(slots, self._all(jobs), strict=True):
            if answer is None:
                self.failed["ratings"] += len(part)
                continue
            for index, value in zip(part, answer, strict=True):
                predicted[index] = value
        return predicted

    def close(self) -> None:
        """Let the client finish its background work on the loop, then close the loop."""
        self.loop.run_until_complete(self.brain.llm.aclose())
        self.loop.close()


def _list_brain(
    pop: Population, params: UtilityParams, llm: Any = None
) -> ListTaskBrain | DeliberateTasks:
    brain = make_brain(pop.config.brain, pop.prep.catalog, params, llm)
    if hasattr(brain, "watch_list"):
        return DeliberateTasks(brain, pop.prep.dataset.rating_scale, pop.config.seed)
    if not isinstance(brain, ListTaskBrain):
        raise ValueError(
            f"brain {pop.config.brain!r} cannot answer list tasks or predict ratings "
            "(it has no watch_probabilities/predicted_rating)"
        )
    return brain


def micro_protocol(
    pop: Population,
    brain: ListTaskBrain | DeliberateTasks,
    ratios: Sequence[int] = DEFAULT_RATIOS,
) -> list[MicroResult]:
    """Agent4Rec's list task: would the persona watch each item of the list?"""
    personas = {p.id: p for p in pop.personas}
    results = []
    for ratio in ratios:
        pooled = Confusion()
        tasks = build_lists(pop, ratio)
        asked = [(personas[task.persona_id], list(task.items)) for task in tasks]
        answers: list[np.ndarray | None] = (
            brain.watch_many(asked)
            if isinstance(brain, DeliberateTasks)
            else [brain.watch_probabilities(persona, items) for persona, items in asked]
        )
        answered = 0
        for task, probabilities in zip(tasks, answers, strict=True):
            if probabilities is not None:
                pooled += Confusion.of(task.labels, np.asarray(probabilities) >= WATCH_THRESHOLD)
                answered += 1
        results.append(MicroResult(ratio=ratio, confusion=pooled, lists=answered))
    return results


def rmse(predicted: np.ndarray, real: np.ndarray) -> float:
    """Root mean squared error; nan for empty samples."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(real, dtype=np.float64)
    return float(np.sqrt(np.mean(d**2))) if d.size else math.nan


def mae(predicted: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute error; nan for empty samples."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(real, dtype=np.float64)
    return float(np.mean(np.abs(d))) if d.size else math.nan


@dataclass(frozen=True)
class RatingResult:
    """Predicted against real held-out ratings.

    `predicted` is the most likely rating on the scale (the headline). A brain with a
    rating model (the utility brain) also gives the rating it expects, off the scale
    (the least-squares point), and the rating it would draw in a run (expected plus its
    noise, on the scale): one point cannot have both the lowest RMSE and the real
    histogram, so the three are reported side by side.
    """

    predicted: np.ndarray = field(repr=False)
    real: np.ndarray = field(repr=False)
    expected: np.ndarray | None = field(default=None, repr=False)
    sampled: np.ndarray | None = field(default=None, repr=False)

    @property
    def rmse(self) -> float:
        """Root mean squared error."""
        return rmse(self.predicted, self.real)

    @property
    def mae(self) -> float:
        """Mean absolute error."""
        return mae(self.predicted, self.real)

    @property
    def w1(self) -> float:
        """Wasserstein-1 between the predicted and the real rating samples."""
        return wasserstein(self.predicted, self.real)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        out: dict[str, Any] = {
            "rmse": _finite(self.rmse),
            "mae": _finite(self.mae),
            "w1": _finite(self.w1),
            "n": int(self.real.size),
        }
        for name, values in (("expected", self.expected), ("sampled", self.sampled)):
            if values is not None:
                out[name] = {
                    "rmse": _finite(rmse(values, self.real)),
                    "w1": _finite(wasserstein(values, self.real)),
                }
        return out


def rating_protocol(pop: Population, brain: ListTaskBrain | DeliberateTasks) -> RatingResult:
    """The persona's most likely rating of each held-out item against the real rating."""
    personas = {pop.user_of(p): p for p in pop.personas}
    scale = pop.prep.dataset.rating_scale
    rows = [
        (personas[user], item)
        for user, item in pop.heldout.select("user_id", "item_id").iter_rows()
    ]
    expected = sampled = None
    predicted: list[float | None]
    if isinstance(brain, UtilityBrain) and rows:
        # Its most likely rating is the expected one on the scale: worked out once.
        expected, sampled = _expected_and_sampled(brain, rows, scale, pop.config.seed)
        predicted = [scale.snap(float(v)) for v in expected]
    elif isinstance(brain, DeliberateTasks):
        predicted = brain.rate_many(rows)
    else:
        predicted = [brain.predicted_rating(persona, item, scale) for persona, item in rows]
    real = pop.heldout["rating"].to_numpy().astype(np.float64)
    given = np.array([p is not None for p in predicted])
    return RatingResult(
        predicted=np.array([p for p in predicted if p is not None], dtype=np.float64),
        real=real[given] if len(real) else real,
        expected=expected,
        sampled=sampled,
    )


def _expected_and_sampled(
    brain: UtilityBrain, rows: list[tuple[Persona, int]], scale: RatingScale, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The expected rating (off the scale) and a drawn one (on it) of each row."""
    space, streams = ActionSpace(item_ids=(), rating_scale=scale), Streams(seed)
    expected, sampled = [], []
    for persona, item in rows:
        value = float(brain.expected_ratings(persona, brain.catalog.index([item]))[0])
        draw = float(streams.generator(persona.id, f"bench:rating:{item}").normal())
        expected.append(value)
        sampled.append(brain.rate(persona, value, space, draw))
    return np.array(expected), np.array(sampled)


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
    check_target_name(config.target)
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
        brain = _list_brain(pop, params, llm)
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
