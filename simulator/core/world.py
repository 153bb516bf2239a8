"""The world of any domain: one simpy clock, a mesa population, the trace, checkpoints.

SimPy owns time; Mesa owns the population (`self.agents`, an AgentSet) and the
model-level time series (`DataCollector`, sampled at every boundary). The
world advances boundary by boundary (a simulated day, a checkpoint interval);
at each one the broker's open questions are answered, the series is sampled
and, when due, the state is checkpointed. A `RunHalted` from anywhere closes
every open session and records why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import mesa
import polars as pl
import simpy

from simulator.core.agent import ClockAgent
from simulator.core.broker import Broker
from simulator.core.checkpoint import accounts_state, restore_accounts
from simulator.core.protocols import RunHalted
from simulator.core.rng import Streams
from simulator.trace import EventKind, TraceWriter

Reporters = Mapping[str, str | Callable[[Any], Any]]
A = TypeVar("A", bound=ClockAgent)


def _resume_order(agent: ClockAgent) -> tuple[int, float, str]:
    if agent.waiting and agent.state.outcome is not None:
        return (0, agent.ask()[0], agent.persona_id)
    return (1, 0.0, "")


class ClockWorld(mesa.Model, Generic[A]):
    """Personas on one clock. A domain adds its system under test and what a boundary is.

    Args:
        trace: where events go.
        streams: the run's keyed streams (mesa's own generator is keyed from them).
        llm: the run's language model, if it has one (its ledger and budget are
            checkpointed with the world).
        period: simulated seconds between boundaries.
        broker_window: the broker's lookahead, in simulated seconds.
    """

    def __init__(
        self,
        *,
        trace: TraceWriter,
        streams: Streams,
        llm: Any,
        period: float,
        broker_window: float,
    ) -> None:
        super().__init__(rng=streams.integer_seed("world", "mesa"))
        self.trace = trace
        self.period = period
        self.env = simpy.Environment()
        self.clock = 0.0  # the last boundary reached, in simulated seconds
        self.counters: Counter[str] = Counter()
        self.halted: str | None = None  # why the run stopped early, if it did
        # The LLM ledger is part of the run's record, so its numbering is checkpointed too.
        self.ledger = getattr(llm, "ledger", None)
        self.budget = getattr(llm, "budget", None)  # what was spent carries over a resume
        self.broker = Broker(broker_window)
        self.population: list[A] = []
        self._started = False

    def collect_with(self, reporters: Reporters) -> None:
        """Sample these model-level series at every boundary."""
        self.datacollector = mesa.DataCollector(model_reporters=dict(reporters))

    # --- what a domain says ----------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Nothing is left to simulate (or the run was halted)."""
        return self.halted is not None

    def checkpoint_due(self) -> bool:
        """Whether the boundary just reached is one to checkpoint at."""
        return True

    def start_order(self) -> Iterable[A]:
        """The order the agents' processes start in: the broker's, for answers it handed out.

        At a boundary the broker answers every open question, and a checkpoint may keep
        the answers before their agents act on them. An unbroken run wakes those agents
        in the broker's order (request time, persona), so a resumed one starts them first,
        in that order; every other agent follows in the population's order.
        """
        return sorted(self.population, key=_resume_order)

    def start(self) -> None:
        """Start the processes: every agent that is not finished, in `start_order`."""
        for agent in self.start_order():
            if not agent.finished:
                self.env.process(agent.live(self.env))

    def domain_state(self) -> dict[str, Any]:
        """What else the domain's world keeps, for the checkpoint."""
        return {}

    def restore_domain(self, state: dict[str, Any]) -> None:
        """Continue what `domain_state` saved."""

    # --- running ---------------------------------------------------------------------------
    def advance(
        self,
        until: float | None,
        *,
        on_step: Callable[[Any], object] | None = None,
        checkpoint: Callable[[Any], object] | None = None,
    ) -> None:
        """Advance boundary by boundary until finished (or `until` simulated seconds)."""
        if not self._started:
            self.start()
            self._started = True
        while not self.finished and (until is None or self.clock < until):
            boundary = self.clock + self.period
            try:
                self.env.run(until=boundary)
                # Questions still out at the boundary are answered now, so a checkpoint holds them.
                self.broker.flush()
            except RunHalted as stop:
                self._halt(stop)
                break
            self.clock = boundary
            self.datacollector.collect(self)
            if checkpoint and self.checkpoint_due():
                checkpoint(self)
            if on_step:
                on_step(self)
        # Whatever was simulated is on disk when this returns, checkpoint or not.
        self.trace.flush()

    def _halt(self, stop: RunHalted) -> None:
        """End every open session and record why the run stops here."""
        now = self.env.now
        for agent in self.population:
            agent.halt(now, stop.event)
        self.trace.emit(now, EventKind(stop.event), reason=stop.event, text=str(stop)[:500])
        self.halted = stop.event
        self.datacollector.collect(self)
        self.trace.flush()

    def timeseries(self) -> pl.DataFrame:
        """Mesa's model-level series, one row per boundary."""
        return pl.from_pandas(self.datacollector.get_model_vars_dataframe())

    # --- checkpoints -----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue; the trace must have been flushed."""
        return {
            "clock": self.clock,
            "counters": dict(self.counters),
            "model_vars": {k: list(v) for k, v in self.datacollector.model_vars.items()},
            "agents": {agent.persona_id: agent.get_state() for agent in self.population},
            "trace": self.trace.get_state(),
            **accounts_state(self.ledger, self.budget),
            **self.domain_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`; call before the world starts running."""
        if self._started:
            raise RuntimeError("set_state must come before the world starts running")
        self.clock = state["clock"]
        self.env = simpy.Environment(initial_time=self.clock)
        self.counters = Counter(state["counters"])
        self.datacollector.model_vars = {k: list(v) for k, v in state["model_vars"].items()}
        for agent in self.population:
            agent.set_state(state["agents"][agent.persona_id])
        self.trace.set_state(state["trace"])
        restore_accounts(self.ledger, self.budget, state)
        self.restore_domain(state)
