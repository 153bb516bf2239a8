"""The rating protocol: each held-out rating against the one the persona would most likely give."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.distance import wasserstein
from analysis.fidelity_brains import DeliberateTasks, ListTaskBrain
from analysis.fidelity_lists import finite
from analysis.fidelity_population import Population
from personas.datasets import RatingScale
from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import ActionSpace
from simulator.domains.recsys.brains.utility import UtilityBrain


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
    quantity: str = "rating"  # or "log_plays": log(1 + plays) of implicit feedback

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
            "rmse": finite(self.rmse),
            "mae": finite(self.mae),
            "w1": finite(self.w1),
            "n": int(self.real.size),
            "quantity": self.quantity,
        }
        for name, values in (("expected", self.expected), ("sampled", self.sampled)):
            if values is not None:
                out[name] = {
                    "rmse": finite(rmse(values, self.real)),
                    "w1": finite(wasserstein(values, self.real)),
                }
        return out


def rating_protocol(pop: Population, brain: ListTaskBrain | DeliberateTasks) -> RatingResult:
    """The persona's most likely rating of each held-out item against the real rating.

    On implicit feedback there is no rating to predict: each held-out consumption's
    log(1 + plays) is held against the one the fitted count model expects.
    """
    personas = {pop.user_of(p): p for p in pop.personas}
    rows = [
        (personas[user], item)
        for user, item in pop.heldout.select("user_id", "item_id").iter_rows()
    ]
    if pop.prep.dataset.feedback == "implicit":
        return _plays_protocol(pop, brain, rows)
    scale = pop.prep.dataset.scale
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


def _plays_protocol(
    pop: Population, brain: ListTaskBrain | DeliberateTasks, rows: list[tuple[Persona, int]]
) -> RatingResult:
    """Each held-out consumption's log(1 + plays) against the count model's expectation."""
    if not isinstance(brain, UtilityBrain):
        raise ValueError(
            f"{pop.prep.dataset.name} has no ratings (implicit feedback: plays); its count "
            "protocol is the fitted count model's, so bench it with --brain utility"
        )
    expected = np.array(
        [float(brain.expected_ratings(p, brain.catalog.index([item]))[0]) for p, item in rows]
    )
    real = np.log1p(pop.heldout["count"].to_numpy().astype(np.float64))
    return RatingResult(predicted=expected, real=real, quantity="log_plays")


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
