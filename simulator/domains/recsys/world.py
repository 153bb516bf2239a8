"""The recommender's World: personas browsing one target, day by day, on the core's clock.

The clock, the population, the halt and the checkpoint are the core's
(`simulator.core.world.ClockWorld`); this adds the target, what it learns
from (train plus every simulated rating, refitted on schedule) and the doors.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import polars as pl
import simpy

from personas.datasets import RatingScale
from personas.sampled import People
from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.core.world import ClockWorld
from simulator.domains.recsys.agent import PersonaAgent
from simulator.domains.recsys.brains import make_brain
from simulator.domains.recsys.catalog import Catalog, check_factor_lengths
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.exposure import Exposure
from simulator.domains.recsys.interfaces import INTERACTIONS_SCHEMA, Recommender, TargetError
from simulator.domains.recsys.perception import Perception
from simulator.minds.memory import EpisodicMemory
from simulator.trace import EventKind, TraceWriter

DAY = 86400.0


class World(ClockWorld[PersonaAgent]):
    """Personas using one target for `config.days` simulated days."""

    def __init__(
        self,
        *,
        config: RunConfig,
        personas: Sequence[Persona],
        catalog: Catalog,
        target: Recommender,
        train: pl.DataFrame,
        rating_scale: RatingScale | None,
        trace: TraceWriter,
        streams: Streams,
        llm: Any = None,
        mind: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(
            trace=trace, streams=streams, llm=llm, period=DAY, broker_window=config.broker_window
        )
        self.config = config
        self.catalog = catalog
        self.target = target
        self.train = train
        self.rating_scale = rating_scale
        self.simulated: list[tuple[str, int, float | None, float, int | None]] = []
        every = config.refit_every_days
        self.next_refit: float | None = every * DAY if every else None
        # Doors besides the page (intent, friends, trending), if the run opens them.
        self.exposure = (
            Exposure(config.exposure, catalog, personas, train, streams)
            if config.exposure.enabled
            else None
        )
        # A sampled table shares its sampler's taste space and lengths: one check, on the real.
        for persona in personas.real if isinstance(personas, People) else personas:
            if persona.taste.factors and persona.taste.factor_space != catalog.space_id:
                raise ValueError(
                    f"persona {persona.id}: its factors live in {persona.taste.factor_space}, "
                    f"the catalogue in {catalog.space_id}; rebuild the personas on this split"
                )
            check_factor_lengths(persona, catalog)
        self.populate(personas, streams, llm, mind)
        self.collect_with(
            {
                "day": "day",
                "sessions": lambda m: m.counters["sessions"],
                "impressions": lambda m: m.counters["impressions"],
                "clicks": lambda m: m.counters["clicks"],
                "ratings": lambda m: m.counters["ratings"],
                "refits": lambda m: m.counters["refits"],
                # A view over mesa's AgentSet: who is inside a session at the day's end.
                "in_session": lambda m: m.in_session(),
            }
        )

    def populate(
        self,
        personas: Sequence[Persona],
        streams: Streams,
        llm: Any,
        mind: Callable[[], Any] | None,
    ) -> None:
        """One agent per persona, each with its perception, memory and the run's brain."""
        config = self.config
        brain = make_brain(
            config.brain,
            self.catalog,
            config.utility,
            llm,
            personas=personas,
            archetypes=config.archetypes,
            seed=config.seed,
        )
        perception = Perception(self.config.perception, self.catalog)
        for persona in personas:
            self.population.append(
                PersonaAgent(
                    self,
                    persona,
                    perception=perception,
                    memory=EpisodicMemory(self.config.memory),
                    brain=brain,
                    streams=streams,
                    mind=mind() if mind is not None else None,
                )
            )

    def in_session(self) -> int:
        """Who is inside a session now (a view over mesa's AgentSet)."""
        return len(self.agents.select(lambda a: a.state.phase != "idle"))

    @property
    def day(self) -> int:
        """Simulated days done."""
        return int(self.clock // DAY)

    # --- what the target learns from ------------------------------------------------------
    def record_rating(
        self, user: str, item_id: int, rating: float | None, t: float, count: int | None = None
    ) -> None:
        """Keep a simulated rating (None: a consumption, `count` times) for the next refit."""
        self.simulated.append((user, item_id, rating, t, count))
        if self.exposure is not None:
            self.exposure.observe(user, item_id, t)

    def interactions(self) -> pl.DataFrame:
        """Train interactions plus everything simulated so far."""
        simulated = pl.DataFrame(self.simulated, schema=INTERACTIONS_SCHEMA, orient="row")
        return pl.concat([self.train, simulated])

    def fit_target(self, interactions: pl.DataFrame) -> None:
        """(Re)train the system under test (an engine with several copies fits them all)."""
        self.target.fit(interactions)

    def _refits(self) -> Generator[simpy.Event, Any, None]:
        every = self.config.refit_every_days
        while self.next_refit is not None and every and self.next_refit < self.config.horizon:
            yield self.env.timeout(max(self.next_refit - self.env.now, 0.0))
            try:
                self.fit_target(self.interactions())
            except TargetError as error:  # it keeps what it learnt before; the run goes on
                self.counters["target_errors"] += 1
                self.trace.emit(
                    self.next_refit,
                    EventKind.TARGET_ERROR,
                    target=self.target.name,
                    reason=error.reason,
                    text=str(error)[:500],
                )
            else:
                self.counters["refits"] += 1
                self.trace.emit(self.next_refit, EventKind.REFIT, target=self.target.name)
            self.next_refit += every * DAY

    # --- running ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Every day simulated, or the run halted."""
        return self.halted is not None or self.day >= self.config.days

    def start(self) -> None:
        """The refit schedule first, then every persona."""
        self.env.process(self._refits())
        super().start()

    def checkpoint_due(self) -> bool:
        """On the checkpoint schedule, and on the last day."""
        return self.day % self.config.checkpoint_every_days == 0 or self.day == self.config.days

    def run(
        self,
        until_day: int | None = None,
        *,
        on_day: Callable[[World], object] | None = None,
        checkpoint: Callable[[World], object] | None = None,
    ) -> None:
        """Advance day by day to `until_day` (default: the end), checkpointing on schedule."""
        until = None if until_day is None else until_day * DAY
        self.advance(until, on_step=on_day, checkpoint=checkpoint)

    # --- checkpoints -----------------------------------------------------------------------
    def domain_state(self) -> dict[str, Any]:
        """What the target learnt and when it refits next."""
        return {
            "simulated": list(self.simulated),
            "next_refit": self.next_refit,
            "target": self.target.get_state(),
        }

    def restore_domain(self, state: dict[str, Any]) -> None:
        """Continue what `domain_state` saved."""
        self.simulated = list(state["simulated"])
        if self.exposure is not None:
            self.exposure.replay(self.simulated)
        self.next_refit = state["next_refit"]
        self.target.set_state(state["target"])
