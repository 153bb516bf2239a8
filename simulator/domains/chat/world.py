"""ChatWorld: personas in conversation with one chatbot, on the core's clock.

The clock, the population, the halt and the checkpoint are the core's
(`simulator.core.world.ClockWorld`); a boundary is a checkpoint interval, the
series is sampled at each, and the run ends when every dialogue has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from personas.conversation import ChatUser
from simulator.core.rng import Streams
from simulator.core.world import ClockWorld
from simulator.domains.chat.agent import ChatAgent
from simulator.domains.chat.config import ChatConfig
from simulator.domains.chat.interfaces import Chatbot
from simulator.domains.chat.stop import StopModel
from simulator.trace import TraceWriter


class ChatWorld(ClockWorld[ChatAgent]):
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
        super().__init__(
            trace=trace,
            streams=streams,
            llm=llm,
            period=config.checkpoint_every_s,
            broker_window=config.broker_window,
        )
        self.config = config
        self.chatbot = chatbot
        self.llm = llm
        self.stop_model = stop_model
        for user in users:
            arrival = streams.generator(user.persona_id, "arrival").uniform(
                0.0, config.arrival_window_s
            )
            self.population.append(ChatAgent(self, user, streams, float(arrival)))
        self.collect_with(
            {
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
        on_step: Callable[[ChatWorld], object] | None = None,
        checkpoint: Callable[[ChatWorld], object] | None = None,
    ) -> None:
        """Advance checkpoint by checkpoint until every dialogue ends (or `until` seconds)."""
        self.advance(until, on_step=on_step, checkpoint=checkpoint)
