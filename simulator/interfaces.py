"""The engine's interfaces, in one place: what a target, a brain and a module must offer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import polars as pl

from personas.schema import Persona
from simulator.actions import ActionSpace, Click, Leave, Rate
from simulator.memory import Recall
from simulator.perception import Observation


@runtime_checkable
class Stateful(Protocol):
    """A module whose state round-trips through a checkpoint."""

    def get_state(self) -> dict[str, Any]:
        """Plain data (picklable) that `set_state` accepts."""
        ...

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly from `get_state`'s result."""
        ...


@dataclass(frozen=True)
class RecContext:
    """What a recommender knows about the request besides the user."""

    t: float
    session: int
    page: int
    exclude: frozenset[int]  # already shown in this session


@dataclass(frozen=True)
class Interaction:
    """One thing a user did with an item, as the system under test hears of it."""

    user: str
    item_id: int
    kind: Literal["click", "rate"]
    t: float
    rating: float | None = None


INTERACTIONS_SCHEMA = {
    "user": pl.String,
    "item_id": pl.Int64,
    "rating": pl.Float64,
    "t": pl.Float64,
}


class Recommender(Stateful, Protocol):
    """A recommender under test. `fit` takes INTERACTIONS_SCHEMA frames (ratings)."""

    name: str

    def fit(self, interactions: pl.DataFrame) -> None:
        """(Re)train on all interactions so far."""
        ...

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Up to k item ids, best first, none the user already consumed or saw this session."""
        ...

    def feedback(self, event: Interaction) -> None:
        """Hear about one interaction; called for every click and rating."""
        ...


@dataclass(frozen=True)
class SessionState:
    """Where the persona is in the current session."""

    session: int
    page: int
    clicks: int


class Brain(Protocol):
    """Chooses actions for one page. Draws only from the generator it is given."""

    def decide(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Click | Rate | Leave]:
        """Actions in the order they happen; a Leave, if any, comes last."""
        ...
