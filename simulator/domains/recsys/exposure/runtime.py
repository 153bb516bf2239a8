"""The doors while a run is going: which one a session opens by, and what it shows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.exposure.config import OUTSIDE, ExposureConfig
from simulator.domains.recsys.exposure.fit import Events, Statics, door_log_likelihoods, persona_mix
from simulator.domains.recsys.exposure.model import (
    DAY,
    Ledger,
    Windows,
    intent_logits,
    intent_static,
)
from simulator.domains.recsys.exposure.social import homophily_graph

FRIENDS_FILE = "friends.parquet"  # a run's social graph, beside its trace
OWN_ITEMS = 20  # a persona's latest train items say which doors it uses
_HOUR = 3600.0


class Exposure:
    """Doors, the social graph and the ledger the doors read, for one run's population."""

    def __init__(
        self,
        config: ExposureConfig,
        catalog: Catalog,
        personas: Sequence[Persona],
        train: pl.DataFrame,
        streams: Streams,
    ) -> None:
        self.config, self.catalog = config, catalog
        self.origin = float(catalog.last_train_time)  # simulated second 0, on the dataset's clock
        self._train = train
        self.ledger = Ledger.from_frame(train, catalog)
        users = [p.target_user for p in personas]
        dims = max((len(p.taste.choice_factors) for p in personas), default=0)
        vectors = np.array(
            [p.taste.choice_factors or (0.0,) * dims for p in personas], dtype=np.float64
        ).reshape(len(personas), dims)
        self.graph = homophily_graph(
            users,
            vectors,
            mean_degree=config.friends,
            homophily=config.homophily,
            sociability=config.sociability,
            rng=streams.generator("world", "exposure:graph"),
        )
        self.friends = {u: sorted(self.graph.neighbors(u)) for u in users}
        self.personas = {p.id: p for p in personas}
        self.mix = self._persona_mixes(list(personas))
        self._windows()

    def _persona_mixes(self, personas: list[Persona]) -> dict[str, np.ndarray]:
        who, rows, times = [], [], []
        for index, persona in enumerate(personas):
            times_u, rows_u = self.ledger.by_user.get(persona.target_user, ([], []))
            who.extend([index] * len(rows_u[-OWN_ITEMS:]))
            rows.extend(rows_u[-OWN_ITEMS:])
            times.extend(times_u[-OWN_ITEMS:])
        events = Events(
            np.array(who, dtype=np.int64), np.array(rows, dtype=np.int64), np.array(times)
        )
        users = [p.target_user for p in personas]
        table = door_log_likelihoods(
            Statics(self.catalog, personas),
            events,
            self.config.intent,
            self.config,
            lambda p: self.friends[users[p]],
            self.ledger,
            self.config.social_days,
        )
        population = np.array(self.config.population_mix())
        return {
            persona.id: persona_mix(
                table[events.persona == index], population, self.config.shrinkage
            )
            for index, persona in enumerate(personas)
        }

    # --- while running ---------------------------------------------------------------------
    def door(self, persona_id: str, rng: np.random.Generator) -> str:
        """The door a session opens by: the page with `page_share`, else by the persona's mix."""
        if rng.random() < self.config.page_share:
            return "recommender"
        return OUTSIDE[int(rng.choice(len(OUTSIDE), p=self.mix[persona_id]))]

    def offer(
        self,
        door: str,
        persona_id: str,
        t: float,
        exclude: Iterable[int],
        k: int,
        rng: np.random.Generator,
    ) -> tuple[str, list[int]]:
        """What `door` shows the persona at simulated second `t`: (the door it came by, items).

        Word of mouth with nothing from friends, or trending with nothing rated lately,
        falls back to intent; nothing the persona has rated (or was shown) comes back.
        """
        persona = self.personas[persona_id]
        clock = self.origin + t
        blocked = np.zeros(len(self.catalog), dtype=bool)
        own = self.ledger.by_user.get(persona.target_user, ([], []))[1]
        blocked[np.asarray(own, dtype=np.int64)] = True
        shown = list(exclude)
        if shown:
            blocked[self.catalog.index(shown)] = True
        if door in ("social", "trending"):
            if door == "social":
                start = clock - self.config.social_days * DAY
                counts = self.ledger.friends_counts(self.friends[persona.target_user], start, clock)
            else:
                counts = self._trending(clock)
            weights = np.where(blocked, 0.0, counts)
            if weights.sum() > 0:
                return door, self._draw(
                    np.log(weights, where=weights > 0, out=np.full_like(weights, -np.inf)), k, rng
                )
            door = "intent"
        # Intent reads popularity on the persona's own clock, as the brain's "recent" does:
        # a dataset's users reached the end of their train at different times.
        own_clock = (persona.provenance.train_until or self.origin) + t
        recent = self._recent(own_clock)
        logits = intent_logits(intent_static(self.catalog, persona), recent, self.config.intent)
        return door, self._draw(np.where(blocked, -np.inf, logits), k, rng)

    def _draw(self, logits: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
        # Gumbel top-k: k items without replacement, each in proportion to exp(logit).
        keys = logits + rng.gumbel(size=len(logits))
        k = min(k, int(np.isfinite(logits).sum()))
        if k == 0:
            return []
        top = np.argpartition(-keys, k - 1)[:k]
        top = top[np.argsort(-keys[top], kind="stable")]
        return [int(i) for i in self.catalog.item_ids[top]]

    def _windows(self) -> None:
        # Counted up to the hour: the trending list and each persona's recent popularity.
        self._trending = Windows(self.ledger, self.config.trending_days, _HOUR)
        self._recent = Windows(self.ledger, self.config.recent_days, _HOUR)

    def observe(self, user: str, item_id: int, t: float) -> None:
        """A simulated rating: it is now trending, and it reaches the rater's friends."""
        row = int(self.catalog.index([item_id])[0])
        self.ledger.add(user, row, self.origin + t)

    def replay(self, simulated: Sequence[tuple[str, int, float | None, float, int | None]]) -> None:
        """Rebuild the ledger after a checkpoint: train, then every simulated rating."""
        self.ledger = Ledger.from_frame(self._train, self.catalog)
        self._windows()
        for user, item_id, _, t, _ in simulated:
            self.observe(user, item_id, t)

    def friendships(self) -> pl.DataFrame:
        """The graph's edges as persona ids (persona_a < persona_b), for the run directory."""
        persona_of = {p.target_user: p.id for p in self.personas.values()}
        pairs = sorted(tuple(sorted((persona_of[a], persona_of[b]))) for a, b in self.graph.edges)
        return pl.DataFrame(
            {"persona_a": [a for a, _ in pairs], "persona_b": [b for _, b in pairs]},
            schema={"persona_a": pl.String, "persona_b": pl.String},
        )

    def summary(self) -> dict[str, Any]:
        """The graph and the mixes, for the manifest."""
        mixes = np.array(list(self.mix.values())) if self.mix else np.zeros((0, len(OUTSIDE)))
        return {
            "friends_mean": 2.0
            * self.graph.number_of_edges()
            / max(self.graph.number_of_nodes(), 1),
            "edges": self.graph.number_of_edges(),
            "mean_mix": {
                d: float(mixes[:, k].mean()) if len(mixes) else None for k, d in enumerate(OUTSIDE)
            },
        }
