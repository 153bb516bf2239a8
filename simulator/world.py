"""The World: one simpy clock, a mesa population, the target, the trace.

SimPy owns time; Mesa owns the population (`self.agents`, an AgentSet) and
its model-level time series (`DataCollector`, sampled once a simulated day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import Any

import mesa
import polars as pl
import simpy

from personas.datasets import RatingScale
from personas.schema import Persona
from simulator.agent import PersonaAgent
from simulator.brains import make_brain
from simulator.broker import Broker
from simulator.catalog import Catalog
from simulator.checkpoint import accounts_state, restore_accounts
from simulator.config import RunConfig
from simulator.exposure import Exposure
from simulator.interfaces import INTERACTIONS_SCHEMA, Recommender, RunHalted
from simulator.memory import EpisodicMemory
from simulator.perception import Perception
from simulator.rng import Streams
from simulator.trace import EventKind, TraceWriter

DAY = 86400.0


class World(mesa.Model):
    """Personas using one target for `config.days` simulated days."""

    def __init__(
        self,
        *,
        config: RunConfig,
        personas: Sequence[Persona],
        catalog: Catalog,
        target: Recommender,
        train: pl.DataFrame,
        rating_scale: RatingScale,
        trace: TraceWriter,
        streams: Streams,
        llm: Any = None,
        mind: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(rng=streams.integer_seed("world", "mesa"))
        self.config = config
        self.catalog = catalog
        self.target = target
        self.train = train
        self.rating_scale = rating_scale
        self.trace = trace
        self.env = simpy.Environment()
        self.day = 0
        self.counters: Counter[str] = Counter()
        self.simulated: list[tuple[str, int, float, float]] = []
        every = config.refit_every_days
        self.next_refit: float | None = every * DAY if every else None
        self._started = False
        self.halted: str | None = None  # why the run stopped early, if it did
        # The LLM ledger is part of the run's record, so its numbering is checkpointed too.
        self.ledger = getattr(llm, "ledger", None)
        self.budget = getattr(llm, "budget", None)  # what was spent carries over a resume
        self.broker = Broker(config.broker_window)
        # Doors besides the page (intent, friends, trending), if the run opens them.
        self.exposure = (
            Exposure(config.exposure, catalog, personas, train, streams)
            if config.exposure.enabled
            else None
        )
        brain = make_brain(config.brain, catalog, config.utility, llm)
        perception = Perception(config.perception, catalog)
        self.population: list[PersonaAgent] = []
        for persona in personas:
            if persona.taste.factors and persona.taste.factor_space != catalog.space_id:
                raise ValueError(
                    f"persona {persona.id}: its factors live in {persona.taste.factor_space}, "
                    f"the catalogue in {catalog.space_id}; rebuild the personas on this split"
                )
            self.population.append(
                PersonaAgent(
                    self,
                    persona,
                    perception=perception,
                    memory=EpisodicMemory(config.memory),
                    brain=brain,
                    streams=streams,
                    mind=mind() if mind is not None else None,
                )
            )
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "day": "day",
                "sessions": lambda m: m.counters["sessions"],
                "impressions": lambda m: m.counters["impressions"],
                "clicks": lambda m: m.counters["clicks"],
                "ratings": lambda m: m.counters["ratings"],
                "refits": lambda m: m.counters["refits"],
                # A view over mesa's AgentSet: who is inside a session at the day's end.
                "in_session": lambda m: len(m.agents.select(lambda a: a.state.phase != "idle")),
            }
        )

    # --- what the target learns from ------------------------------------------------------
    def record_rating(self, user: str, item_id: int, rating: float, t: float) -> None:
        """Keep a simulated rating for the target's next refit."""
        self.simulated.append((user, item_id, rating, t))
        if self.exposure is not None:
            self.exposure.observe(user, item_id, t)

    def interactions(self) -> pl.DataFrame:
        """Train interactions plus everything simulated so far."""
        simulated = pl.DataFrame(self.simulated, schema=INTERACTIONS_SCHEMA, orient="row")
        return pl.concat([self.train, simulated])

    def _refits(self) -> Generator[simpy.Event, Any, None]:
        every = self.config.refit_every_days
        while self.next_refit is not None and every and self.next_refit < self.config.horizon:
            yield self.env.timeout(max(self.next_refit - self.env.now, 0.0))
            self.target.fit(self.interactions())
            self.counters["refits"] += 1
            self.trace.emit(self.next_refit, EventKind.REFIT, target=self.target.name)
            self.next_refit += every * DAY

    # --- running ---------------------------------------------------------------------------
    def run(
        self,
        until_day: int | None = None,
        *,
        on_day: Callable[[World], None] | None = None,
        checkpoint: Callable[[World], object] | None = None,
    ) -> None:
        """Advance day by day to `until_day` (default: the end), checkpointing on schedule."""
        if not self._started:
            self.env.process(self._refits())
            for agent in self.population:
                self.env.process(agent.live(self.env))
            self._started = True
        end = self.config.days if until_day is None else min(until_day, self.config.days)
        while self.day < end and self.halted is None:
            try:
                self.env.run(until=(self.day + 1) * DAY)
                # Decisions still out at midnight are answered now, so a checkpoint holds them.
                self.broker.flush()
            except RunHalted as stop:
                self._halt(stop)
                break
            self.day += 1
            self.datacollector.collect(self)
            if checkpoint and (
                self.day % self.config.checkpoint_every_days == 0 or self.day == self.config.days
            ):
                checkpoint(self)
            if on_day:
                on_day(self)
        # Whatever was simulated is on disk when run() returns, checkpoint or not.
        self.trace.flush()

    def _halt(self, stop: RunHalted) -> None:
        """End every open session and record why the run stops here."""
        now = self.env.now
        for agent in self.population:
            agent.close_session(now, stop.event)
        self.trace.emit(now, EventKind(stop.event), reason=stop.event, text=str(stop)[:500])
        self.halted = stop.event
        self.datacollector.collect(self)
        self.trace.flush()

    def timeseries(self) -> pl.DataFrame:
        """Mesa's model-level series, one row per simulated day."""
        return pl.from_pandas(self.datacollector.get_model_vars_dataframe())

    # --- checkpoints -----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue; the trace must have been flushed."""
        return {
            "day": self.day,
            "counters": dict(self.counters),
            "simulated": list(self.simulated),
            "next_refit": self.next_refit,
            "model_vars": {k: list(v) for k, v in self.datacollector.model_vars.items()},
            "agents": {agent.persona.id: agent.get_state() for agent in self.population},
            "target": self.target.get_state(),
            "trace": self.trace.get_state(),
            **accounts_state(self.ledger, self.budget),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`; call before `run`."""
        if self._started:
            raise RuntimeError("set_state must come before the world starts running")
        self.day = state["day"]
        self.env = simpy.Environment(initial_time=self.day * DAY)
        self.counters = Counter(state["counters"])
        self.simulated = list(state["simulated"])
        if self.exposure is not None:
            self.exposure.replay(self.simulated)
        self.next_refit = state["next_refit"]
        self.datacollector.model_vars = {k: list(v) for k, v in state["model_vars"].items()}
        for agent in self.population:
            agent.set_state(state["agents"][agent.persona.id])
        self.target.set_state(state["target"])
        self.trace.set_state(state["trace"])
        restore_accounts(self.ledger, self.budget, state)
