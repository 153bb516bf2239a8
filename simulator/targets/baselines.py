"""Baseline recommenders: random and most-popular."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from simulator.catalog import Catalog
from simulator.interfaces import Interaction, RecContext
from simulator.rng import Streams, generator_state, restore_generator
from simulator.targets.history import UserHistory, top_k


class RandomRecommender:
    """Uniformly random unseen items: the floor every recommender should beat.

    Each user has their own stream, so what one user is shown never depends on
    what others did: A/B arms see common random numbers.
    """

    name = "random"

    def __init__(self, catalog: Catalog, streams: Streams) -> None:
        self.catalog = catalog
        self.streams = streams
        self.rngs: dict[str, np.random.Generator] = {}
        self.history = UserHistory()

    def fit(self, interactions: pl.DataFrame) -> None:
        """Learn only what each user has already consumed."""
        self.history.reset(interactions)

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Random scores over the catalogue, excluding consumed and already shown items."""
        rng = self.rngs.get(user)
        if rng is None:
            rng = self.rngs[user] = self.streams.generator(user, "target:random")
        scores = rng.random(len(self.catalog))
        return top_k(scores, self.catalog, self.history.of(user) | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """Remember consumed items."""
        self.history.add(event.user, event.item_id)

    def get_state(self) -> dict[str, Any]:
        """History and every user's generator state."""
        return {
            "history": self.history.get_state(),
            "root_seed": self.streams.root_seed,  # users not seen yet draw from it later
            "rngs": {user: generator_state(rng) for user, rng in self.rngs.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.streams = Streams(state["root_seed"])
        self.rngs = {user: restore_generator(s) for user, s in state["rngs"].items()}


class PopularityRecommender:
    """Most-rated items first; counts grow with every simulated rating."""

    name = "popularity"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.history = UserHistory()
        self.counts = np.zeros(len(catalog))

    def fit(self, interactions: pl.DataFrame) -> None:
        """Count ratings per item."""
        self.history.reset(interactions)
        self.counts = np.zeros(len(self.catalog))
        np.add.at(self.counts, self.catalog.index(interactions["item_id"].to_numpy()), 1.0)

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """The k most-counted items the user has not consumed nor seen this session."""
        return top_k(self.counts, self.catalog, self.history.of(user) | context.exclude, k)

    def feedback(self, event: Interaction) -> None:
        """A rating counts towards popularity; a click only marks the item consumed."""
        self.history.add(event.user, event.item_id)
        if event.kind == "rate":
            self.counts[self.catalog.index([event.item_id])[0]] += 1.0

    def get_state(self) -> dict[str, Any]:
        """History and counts."""
        return {"history": self.history.get_state(), "counts": self.counts.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.history.set_state(state["history"])
        self.counts = np.array(state["counts"])
