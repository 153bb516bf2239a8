"""The agent of any domain on the simpy clock: sleep until the next step, take it, repeat.

A domain's agent is a small state machine whose state is plain data (a
dataclass with at least `phase`, `next_at` and `outcome`): between any two
steps everything it will do next is in that state, so a checkpoint can stop
the world at any instant and a resumed run continues exactly. When the agent
waits on a language model or a system under test it hands a job to the
broker, which answers off the clock and wakes the agents in a fixed order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

import mesa
import simpy

from simulator.core.protocols import WorldView
from simulator.core.rng import Streams, generator_state, restore_generator
from simulator.trace.schema import EventKind


class ClockAgent(mesa.Agent):
    """A persona on the clock. Subclasses say what a step does and what a wait asks.

    Args:
        world: the world it lives in (a mesa Model that is also a `WorldView`).
        persona_id: who it is: the broker's order key and the trace's persona.
        streams: the run's keyed streams.
        purposes: one stream per purpose, so e.g. a longer page never shifts arrivals.
        stream_owner: the streams' key (default: `persona_id`); an arm that must not
            share draws with another names its own.
    """

    state: Any  # the domain's state dataclass: phase, next_at, outcome, ...

    def __init__(
        self,
        world: Any,
        persona_id: str,
        streams: Streams,
        purposes: Sequence[str],
        *,
        stream_owner: str | None = None,
    ) -> None:
        super().__init__(world)
        self.world: WorldView = world
        self.persona_id = persona_id
        owner = stream_owner or persona_id
        self.rngs = {purpose: streams.generator(owner, purpose) for purpose in purposes}

    # --- what a domain says ----------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Nothing more to do, ever (a chat user whose dialogue ended)."""
        return False

    @property
    def waiting(self) -> bool:
        """The state is a question to the broker (its answer goes to `state.outcome`)."""
        raise NotImplementedError

    def ask(self) -> tuple[float, Callable[[], Awaitable[Any]]]:
        """The question of a waiting state: its logical time and the job that answers it."""
        raise NotImplementedError

    def answered(self) -> None:
        """Act on `state.outcome`, the broker's answer."""
        raise NotImplementedError

    def step(self) -> None:
        """Take the step the state says is due at `state.next_at`."""
        raise NotImplementedError

    def halt(self, t: float, reason: str) -> None:
        """Close whatever is open: the run stops here (e.g. its budget is spent)."""
        raise NotImplementedError

    def trace_fields(self) -> dict[str, Any]:
        """The fields every event of this agent carries besides its persona."""
        return {}

    def snapshot(self) -> Any:
        """A copy of `state` that later steps cannot change."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """What else the domain's agent keeps (a memory), for the checkpoint."""
        return {}

    def restore_extra(self, state: dict[str, Any]) -> None:
        """Continue what `extra_state` saved."""

    # --- the clock -------------------------------------------------------------------------
    def live(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """The agent's process: sleep until the next step, take it; wait on the broker."""
        while not self.finished:
            if self.waiting:
                if self.state.outcome is None:
                    yield self._submit(env)
                self.answered()
                continue
            yield env.timeout(max(self.state.next_at - env.now, 0.0))
            self.step()

    def _submit(self, env: simpy.Environment) -> simpy.Event:
        t, job = self.ask()

        def deliver(result: Any) -> None:
            self.state.outcome = result

        return self.world.broker.submit(env, (t, self.persona_id), job, deliver)

    def emit(self, event: EventKind, t: float, **fields: Any) -> None:
        """One event of this persona to the trace."""
        self.world.trace.emit(t, event, persona_id=self.persona_id, **self.trace_fields(), **fields)

    # --- checkpoints -----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The state machine, every stream, and the domain's extras."""
        return {
            "state": self.snapshot(),
            "rngs": {purpose: generator_state(rng) for purpose, rng in self.rngs.items()},
            **self.extra_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.state = state["state"]
        self.rngs = {purpose: restore_generator(s) for purpose, s in state["rngs"].items()}
        self.restore_extra(state)
