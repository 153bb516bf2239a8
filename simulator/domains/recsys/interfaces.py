"""What a recommender and a brain must offer (what every domain shares: core.protocols)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

import numpy as np
import polars as pl

from personas.schema import Persona
from simulator.core.protocols import Failure, Stateful
from simulator.core.statecodec import state_type
from simulator.domains.recsys.actions import Act, ActionSpace
from simulator.domains.recsys.perception import Observation
from simulator.minds.memory import Recall


@dataclass(frozen=True)
class RecContext:
    """What a recommender knows about the request besides the user."""

    t: float
    session: int
    page: int
    exclude: frozenset[int]  # already shown in this session


class RecContexts(Sequence[RecContext]):
    """The contexts of a batch of requests, by the array (`recommend_many`'s third argument).

    A target may offer `recommend_many(users, k, contexts)`, answering a list of pages
    or a (requests, <= k) integer array padded with -1. Indexing gives each request's
    `RecContext`; `excluded()` gives every request's shown items at once, for a target
    that scores the batch as a matrix.
    """

    def __init__(
        self, t: np.ndarray, session: np.ndarray, page: np.ndarray, pointers: np.ndarray,
        items: np.ndarray,
    ) -> None:  # fmt: skip
        self.t, self.session, self.page = t, session, page
        self._pointers, self._items = pointers, items

    def __len__(self) -> int:
        return len(self.t)

    @overload
    def __getitem__(self, i: int) -> RecContext: ...
    @overload
    def __getitem__(self, i: slice) -> list[RecContext]: ...
    def __getitem__(self, i: int | slice) -> RecContext | list[RecContext]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        shown = self._items[self._pointers[i] : self._pointers[i + 1]]
        return RecContext(
            t=float(self.t[i]),
            session=int(self.session[i]),
            page=int(self.page[i]),
            exclude=frozenset(shown.tolist()),
        )

    def excluded(self) -> tuple[np.ndarray, np.ndarray]:
        """Request i's shown item ids are `items[pointers[i]:pointers[i + 1]]`."""
        return self._pointers, self._items


@dataclass(frozen=True)
class Interaction:
    """One thing a user did with an item, as the system under test hears of it."""

    user: str
    item_id: int
    kind: Literal["click", "rate"]
    t: float
    rating: float | None = None


@dataclass(frozen=True)
class Interactions:
    """Many interactions by the array, in the order heard (`feedback_many`'s argument).

    A target may offer `feedback_many(events)`, meaning exactly `feedback` for each
    event in order; `rating` is NaN for a click.
    """

    user: np.ndarray  # str
    item_id: np.ndarray  # int64
    kind: np.ndarray  # "click" or "rate"
    t: np.ndarray  # float64
    rating: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.item_id)

    def __getitem__(self, i: int) -> Interaction:
        rating = float(self.rating[i])
        return Interaction(
            user=str(self.user[i]),
            item_id=int(self.item_id[i]),
            kind=self.kind[i],
            t=float(self.t[i]),
            rating=None if self.kind[i] == "click" else rating,
        )


INTERACTIONS_SCHEMA = {
    "user": pl.String,
    "item_id": pl.Int64,
    "rating": pl.Float64,  # null for a consumption without a rating
    "t": pl.Float64,
    "count": pl.Int64,  # implicit feedback: how many times (plays); null with ratings
}


def as_interactions(ratings: pl.DataFrame) -> pl.DataFrame:
    """Dataset ratings (user_id, item_id, rating, timestamp[, count]) as INTERACTIONS_SCHEMA."""
    count = pl.col("count") if "count" in ratings.columns else pl.lit(None)
    return ratings.select(
        pl.col("user_id").cast(pl.String).alias("user"),
        "item_id",
        pl.col("rating").cast(pl.Float64),
        pl.col("timestamp").cast(pl.Float64).alias("t"),
        count.cast(pl.Int64).alias("count"),
    )


class TargetError(ValueError):
    """The system under test failed a request, or answered what the page cannot show.

    The persona's session ends with a `target_error` event (`reason` is a short
    code, the message the detail); the run goes on.
    """

    def __init__(self, detail: str, reason: str = "bad_answer") -> None:
        super().__init__(detail)
        self.reason = reason


class Recommender(Stateful, Protocol):
    """A recommender under test. `fit` takes INTERACTIONS_SCHEMA frames (ratings).

    Optional, for the columnar engine's batches: `recommend_many(users, k, contexts)`
    (contexts a `RecContexts`) and `feedback_many(events)` (an `Interactions`).
    """

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


@state_type
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
    ) -> list[Act]:
        """Actions in the order they happen; a Leave, if any, comes last."""
        ...


@state_type
@dataclass(frozen=True)
class Decision:
    """What a deliberate brain decided for one page, plus the words it said about items."""

    actions: list[Act]
    reviews: dict[int, str]  # item id -> what the persona wrote about it
    failures: tuple[Failure, ...] = ()  # side calls that failed (a reflection), not the choice


@state_type
@dataclass(frozen=True)
class DecisionRequest:
    """Everything a deliberate brain needs to decide one page, as plain data.

    Built in simulated order (draws included), then answered off the clock by
    the broker; kept in the agent's state so a checkpoint can hold it.
    """

    persona_id: str
    t: float
    observation: Observation
    session: SessionState
    space: ActionSpace
    seed: int  # for the model's sampling: keyed, like every other draw
    priors: dict[int, float]  # item id -> P(click) from the utility brain ({} if none)
    expected: dict[int, float]  # item id -> calibrated rating ({} if none)
    fallback: list[Act]  # what the utility brain would do (the hybrid's routine)


class DeliberateBrain(Protocol):
    """A brain that thinks with a language model: its decisions go through the broker.

    `prepare` runs on the clock and either decides at once (a routine page) or
    returns a request; `deliberate` answers a request off the clock.
    """

    def prepare(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Act] | DecisionRequest:
        """Actions now, or a request for the broker."""
        ...

    async def deliberate(
        self, request: DecisionRequest, persona: Persona, mind: Any
    ) -> Decision | Failure:
        """Answer one request; `mind` is the persona's reflective memory (or None)."""
        ...
