"""Baseline recommenders: random and most-popular."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from simulator.core.rng import Streams, generator_state, restore_generator
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Interaction, RecContext
from simulator.domains.recsys.targets.history import UserHistory, top_k


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


class RecentPopularityRecommender(PopularityRecommender):
    """What is being rated now: counts of the train's last `days`, then every simulated rating.

    The window is read from the first fit (the train data's own clock); later
    refits keep those counts, since the simulation adds its ratings as it hears them.
    """

    name = "popularity-recent"

    def __init__(self, catalog: Catalog, days: float = 30.0) -> None:
        super().__init__(catalog)
        self.days = days
        self.windowed = False

    def fit(self, interactions: pl.DataFrame) -> None:
        """Count the ratings of the window before the latest one (first fit only)."""
        self.history.reset(interactions)
        if self.windowed or interactions.is_empty():
            return
        end = float(interactions["t"].max())  # type: ignore[arg-type]
        recent = interactions.filter(pl.col("t") > end - self.days * 86400.0)
        self.counts = np.zeros(len(self.catalog))
        np.add.at(self.counts, self.catalog.index(recent["item_id"].to_numpy()), 1.0)
        self.windowed = True

    def get_state(self) -> dict[str, Any]:
        """History, counts and whether the window is read."""
        return {**super().get_state(), "windowed": self.windowed}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        super().set_state(state)
        self.windowed = bool(state["windowed"])


class NewestRecommender(PopularityRecommender):
    """New releases first: items of the catalogue's latest `years` release years, by count."""

    name = "newest"

    def __init__(self, catalog: Catalog, years: int = 2) -> None:
        super().__init__(catalog)
        known = [y for y in catalog.years if y is not None]
        latest = max(known) if known else 0
        self.fresh = np.array([y is not None and y > latest - years for y in catalog.years])

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Fresh items by count, then the rest by count."""
        scores = self.counts + self.fresh * (self.counts.max() + 1.0)
        return top_k(scores, self.catalog, self.history.of(user) | context.exclude, k)


class GenreRecommender(PopularityRecommender):
    """Content only: items whose genres match the genre mix of what the user consumed."""

    name = "genre"

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """Genre profile · item genres; popularity breaks ties and serves new users."""
        seen = self.history.of(user)
        scores = 1e-6 * self.counts / (self.counts.max() or 1.0)
        if seen:
            matrix = self.catalog.genre_matrix
            profile = matrix[self.catalog.index(sorted(seen))].mean(axis=0)
            scores = scores + matrix @ profile
        return top_k(scores, self.catalog, seen | context.exclude, k)
