"""SearchWorld: searchers and one engine on the core's clock.

The clock, the population, the halt and the checkpoint are the core's
(`simulator.core.world.ClockWorld`); a boundary is a checkpoint interval, the
series is sampled at each, and the run ends when every session has ended. The
engine's state is checkpointed with the world, so an engine that learns from
clicks continues where it was; so are the language model's ledger and budget
when it words the queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from simulator.core.rng import Streams
from simulator.core.world import ClockWorld
from simulator.domains.search.agent import SearchAgent
from simulator.domains.search.config import SearchConfig
from simulator.domains.search.interfaces import SearchEngine
from simulator.domains.search.model import SearcherModel
from simulator.domains.search.population import Searcher
from simulator.trace import TraceWriter


class SearchWorld(ClockWorld[SearchAgent]):
    """One session per searcher, opened within the arrival window."""

    def __init__(
        self,
        *,
        config: SearchConfig,
        searchers: Sequence[Searcher],
        engine: SearchEngine,
        model: SearcherModel,
        trace: TraceWriter,
        streams: Streams,
        llm: Any = None,
    ) -> None:
        super().__init__(
            trace=trace, streams=streams, llm=llm, period=config.checkpoint_every_s,
            broker_window=config.broker_window,
        )  # fmt: skip
        self.config, self.engine, self.model = config, engine, model
        self.llm = llm  # the model that words the queries, when the run's brain is "llm"
        for searcher in searchers:
            arrival = streams.generator(searcher.persona_id, "arrival").uniform(
                0.0, config.arrival_window_s
            )
            self.population.append(SearchAgent(self, searcher, streams, float(arrival)))
        self.collect_with(
            {
                "t": "clock",
                "sessions": lambda m: m.counters["sessions"],
                "ended": lambda m: m.counters["ended"],
                "queries": lambda m: m.counters["queries"],
                "clicks": lambda m: m.counters["clicks"],
                "open": lambda m: len(m.agents.select(lambda a: a.open)),
            }
        )

    @property
    def finished(self) -> bool:
        """Every session has ended (or the run was halted)."""
        return self.halted is not None or all(a.finished for a in self.population)

    def run(
        self,
        until: float | None = None,
        *,
        on_step: Callable[[SearchWorld], object] | None = None,
        checkpoint: Callable[[SearchWorld], object] | None = None,
    ) -> None:
        """Advance checkpoint by checkpoint until every session ends (or `until` seconds)."""
        self.advance(until, on_step=on_step, checkpoint=checkpoint)

    def domain_state(self) -> dict[str, Any]:
        """The engine's state (what it learnt from clicks)."""
        return {"engine": self.engine.get_state()}

    def restore_domain(self, state: dict[str, Any]) -> None:
        """The engine continues from its checkpointed state."""
        self.engine.set_state(state["engine"])
