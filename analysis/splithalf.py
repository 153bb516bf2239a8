"""The split-half comparison every domain shares: a distance, a human floor, their ratio.

A distance alone says little: two halves of the same real population already
differ. Each row therefore carries a floor, the distance between random halves
of the real side, and the ratio of the simulated distance to it. For every
split a domain hands over five samples of equal size where it matters
(`Halves`), and for each metric

* ``floor_k = d(real_floor, real_b)`` (``real_floor`` is ``real_a``, or a part
  of it cut to the simulated half's size),
* ``distance_k = (d(sim_a, real_b) + d(sim_b, real_a)) / 2``,

so the simulated side is always held against real people it does not share.
The row's ``distance`` and ``floor`` are the means over splits (an undefined,
nan, distance left out) and ``ratio`` their quotient. How the halves are drawn
is the domain's: by shared user in a browsing run (`analysis.compare`), each
side on its own (`independent_halves`) for dialogues (`analysis.dialogue_compare`)
and search sessions (`analysis.search_compare`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
S = TypeVar("S")  # a sample of one side: a Behaviour, a list of dialogues
T = TypeVar("T")  # one person's record on a side halved on its own: a dialogue, a session


@dataclass(frozen=True)
class ComparisonRow:
    """One metric, simulated against real.

    Attributes:
        metric: Name of the metric.
        distance_name: How the two sides were compared.
        distance: Mean split-half distance between simulated and real (see the module).
        floor: Mean distance between random halves of the real side.
        ratio: ``distance / floor``; nan when the floor is 0 or undefined.
        simulated: One-number summary of the simulated side (a sample's mean,
            a scalar itself, or a distribution's entropy in bits).
        real: The same summary of the real side.
    """

    metric: str
    distance_name: str
    distance: float
    floor: float
    ratio: float
    simulated: float
    real: float

    @classmethod
    def from_dict(cls, data: dict[str, float | str | None]) -> ComparisonRow:
        """The row `as_dict` wrote (None back to nan)."""

        def number(key: str) -> float:
            value = data[key]
            return math.nan if value is None else float(value)

        return cls(
            metric=str(data["metric"]),
            distance_name=str(data["distance_name"]),
            **{k: number(k) for k in ("distance", "floor", "ratio", "simulated", "real")},
        )

    def as_dict(self) -> dict[str, float | str | None]:
        """The row as a JSON-safe dict; non-finite numbers become None."""
        return {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in asdict(self).items()
        }


@dataclass(frozen=True)
class Metric(Generic[S]):
    """What to measure on a sample, how to hold two measures apart, and how to sum one up."""

    name: str
    distance_name: str
    measure: Callable[[S], FloatArray]
    distance: Callable[[FloatArray, FloatArray], float]
    summary: Callable[[FloatArray], float]


@dataclass(frozen=True)
class Halves(Generic[S]):
    """One split: two simulated halves, two real halves, and the floor's real sample."""

    sim_a: S
    sim_b: S
    real_a: S
    real_b: S
    real_floor: S


def scalar(value: float) -> FloatArray:
    """A one-number measure."""
    return np.array([value], dtype=np.float64)


def abs_diff(a: FloatArray, b: FloatArray) -> float:
    """The distance between two one-number measures."""
    return float(abs(a[0] - b[0]))


def mean(x: FloatArray) -> float:
    """A sample's mean (nan when empty)."""
    return float(x.mean()) if x.size else math.nan


def only(x: FloatArray) -> float:
    """A one-number measure's number."""
    return float(x[0])


def finite_mean(values: Sequence[float]) -> float:
    """The mean of the finite values (nan if there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def ratio(distance: float, floor: float) -> float:
    """``distance / floor``, nan where the floor is 0 or undefined."""
    if not math.isfinite(floor) or floor == 0.0:
        return math.nan
    value = distance / floor
    return value if math.isfinite(value) else math.nan


def split_generator(seed: int) -> np.random.Generator:
    """The one generator of a comparison's splits: split k is its k-th draw."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def _pick(sample: list[T], indices: npt.NDArray[np.intp]) -> list[T]:
    # Back into the side's own order: some metrics read a sample one item after another.
    return [sample[i] for i in sorted(indices.tolist())]


def independent_halves(
    sim: list[T], real: list[T], seed: int, n_splits: int
) -> Iterator[Halves[list[T]]]:
    """Each side halved on its own (sessions, dialogues: no person on both), cut to equal sizes.

    The floor's real sample is cut to the simulated half's size, so a small
    simulated side is not held to a larger real one's steadiness.
    """
    if len(sim) < 2 or len(real) < 2:
        return
    rng = split_generator(seed)
    for _ in range(n_splits):
        real_order, sim_order = rng.permutation(len(real)), rng.permutation(len(sim))
        r_a, r_b = real_order[: len(real) // 2], real_order[len(real) // 2 :]
        s_a, s_b = sim_order[: len(sim) // 2], sim_order[len(sim) // 2 :]
        n = min(s_a.size, r_a.size)
        yield Halves(
            sim_a=_pick(sim, s_a[:n]),
            sim_b=_pick(sim, s_b[:n]),
            real_a=_pick(real, r_a),
            real_b=_pick(real, r_b),
            real_floor=_pick(real, r_a[:n]),
        )


def compare_halves(
    metrics: Sequence[Metric[S]], sim: S, real: S, splits: Iterable[Halves[S]]
) -> list[ComparisonRow]:
    """One row per metric: split-half distance, floor, ratio, and each side's summary.

    With no splits (too few people on a side) distance and floor are nan.
    """
    distances: list[list[float]] = [[] for _ in metrics]
    floors: list[list[float]] = [[] for _ in metrics]
    for split in splits:
        for metric, dist, floor in zip(metrics, distances, floors, strict=True):
            sim_a, sim_b, real_a, real_b = (
                metric.measure(s) for s in (split.sim_a, split.sim_b, split.real_a, split.real_b)
            )
            same = split.real_floor is split.real_a
            real_floor = real_a if same else metric.measure(split.real_floor)
            floor.append(metric.distance(real_floor, real_b))
            dist.append(
                finite_mean([metric.distance(sim_a, real_b), metric.distance(sim_b, real_a)])
            )
    rows = []
    for metric, dist, floor in zip(metrics, distances, floors, strict=True):
        distance, floor_value = finite_mean(dist), finite_mean(floor)
        rows.append(
            ComparisonRow(
                metric=metric.name,
                distance_name=metric.distance_name,
                distance=distance,
                floor=floor_value,
                ratio=ratio(distance, floor_value),
                simulated=metric.summary(metric.measure(sim)),
                real=metric.summary(metric.measure(real)),
            )
        )
    return rows
