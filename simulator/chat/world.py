"""ChatWorld: personas in conversation with one chatbot, on one simpy clock.

Mesa holds the population (an AgentSet) and the model-level series, sampled
at every checkpoint; simpy owns time; the broker gathers the language-model
and chatbot calls due together. The run ends when every dialogue has ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import mesa
import polars as pl
import simpy

from personas.conversation import ChatUser
from simulator.broker import Broker
from simulator.chat.agent import ChatAgent, StopReason
from simulator.chat.config import ChatConfig
from simulator.chat.stop import StopModel
from simulator.checkpoint import accounts_state, restore_accounts
from simulator.interfaces import Chatbot, RunHalted
from simulator.rng import Streams
from simulator.trace import EventKind, TraceWriter


class ChatWorld(mesa.Model):
    """One dialogue per chat user, opened within the arrival window."""

    def __init__(
        self,
        *,
        config: ChatConfig,
        users: Sequence[ChatUser],
        chatbot: Chatbot,
        llm: Any,
        stop_model: StopModel,
        trace: TraceWriter,
        streams: Streams,
    ) -> None:
        super().__init__(rng=streams.integer_seed("world", "mesa"))
        self.config = config
        self.chatbot = chatbot
        self.llm = llm
        self.stop_model = stop_model
        self.trace = trace
        self.env = simpy.Environment()
        self.clock = 0.0  # the last checkpoint boundary
        self.counters: Counter[str] = Counter()
        self.halted: str | None = None
        self.ledger = getattr(llm, "ledger", None)
        self.budget = getattr(llm, "budget", None)
        self.broker = Broker(config.broker_window)
        self._started = False
        self.population: list[ChatAgent] = []
        for user in users:
            arrival = streams.generator(user.persona_id, "arrival").uniform(
                0.0, config.arrival_window_s
            )
            self.population.append(ChatAgent(self, user, streams, float(arrival)))
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "t": "clock",
                "dialogues": lambda m: m.counters["dialogues"],
                "ended": lambda m: m.counters["ended"],
                "messages": lambda m: m.counters["messages"],
                # A view over mesa's AgentSet: who is mid-conversation now.
                "open": lambda m: len(m.agents.select(lambda a: a.open)),
            }
        )

    @property
    def finished(self) -> bool:
        """Every dialogue has ended (or the run was halted)."""
        return self.halted is not None or all(a.state.phase == "done" for a in self.population)

    def run(
        self,
        until: float | None = None,
        *,
        on_step: Callable[[ChatWorld], None] | None = None,
        checkpoint: Callable[[ChatWorld], object] | None = None,
    ) -> None:
        """Advance checkpoint by checkpoint until every dialogue ends (or `until` seconds)."""
        if not self._started:
            for agent in sorted(self.population, key=self._resume_order):
                if agent.state.phase != "done":
                    self.env.process(agent.live(self.env))
            self._started = True
        every = self.config.checkpoint_every_s
        while not self.finished and (until is None or self.clock < until):
            boundary = self.clock + every
            try:
                self.env.run(until=boundary)
                # Calls still out at the boundary are answered now, so a checkpoint holds them.
                self.broker.flush()
            except RunHalted as stop:
                self._halt(stop)
                break
            self.clock = boundary
            self.datacollector.collect(self)
            if checkpoint:
                checkpoint(self)
            if on_step:
                on_step(self)
        self.trace.flush()

    def _resume_order(self, agent: ChatAgent) -> tuple[int, float, str]:
        # Answers handed out at a checkpoint wake their agents in the broker's order
        # (request time, persona); a resumed run must start them in that order too.
        s = agent.state
        if s.outcome is not None:
            return (0, s.asked_at, agent.user.persona_id)
        return (1, 0.0, "")

    def _halt(self, stop: RunHalted) -> None:
        now = self.env.now
        for agent in self.population:
            if agent.open:
                agent.end(StopReason(stop.event), now)
        self.trace.emit(now, EventKind(stop.event), reason=stop.event, text=str(stop)[:500])
        self.halted = stop.event
        self.datacollector.collect(self)
        self.trace.flush()

    def timeseries(self) -> pl.DataFrame:
        """Mesa's model-level series, one row per checkpoint interval."""
        return pl.from_pandas(self.datacollector.get_model_vars_dataframe())

    # --- checkpoints -----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue; the trace must have been flushed."""
        return {
            "clock": self.clock,
            "counters": dict(self.counters),
            "model_vars": {k: list(v) for k, v in self.datacollector.model_vars.items()},
            "agents": {a.user.persona_id: a.get_state() for a in self.population},
            "trace": self.trace.get_state(),
            **accounts_state(self.ledger, self.budget),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`; call before `run`."""
        if self._started:
            raise RuntimeError("set_state must come before the world starts running")
        self.clock = state["clock"]
        self.env = simpy.Environment(initial_time=self.clock)
        self.counters = Counter(state["counters"])
        self.datacollector.model_vars = {k: list(v) for k, v in state["model_vars"].items()}
        for agent in self.population:
            agent.set_state(state["agents"][agent.user.persona_id])
        self.trace.set_state(state["trace"])
        restore_accounts(self.ledger, self.budget, state)
