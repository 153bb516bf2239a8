"""What every domain shares: state that round-trips, failures as values, a halt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from simulator.core.broker import Broker
from simulator.core.statecodec import state_type
from simulator.trace import TraceWriter


@runtime_checkable
class Stateful(Protocol):
    """A module whose state round-trips through a checkpoint."""

    def get_state(self) -> dict[str, Any]:
        """Plain data (picklable) that `set_state` accepts."""
        ...

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly from `get_state`'s result."""
        ...


@state_type
@dataclass(frozen=True)
class Failure:
    """A decision the language model could not give: why (a short code) and the detail."""

    reason: str
    detail: str


class StateUnavailable(Exception):
    """Part of the world cannot give its state now (a service that is down).

    The checkpoint due is not written, so the last whole one stands and a resume
    continues from it; the run itself goes on.
    """


class RunHalted(Exception):
    """The run must end now (e.g. its LLM budget is spent); the world closes it cleanly.

    `event` names the trace event that records why.
    """

    event = "run_halted"


class WorldView(Protocol):
    """What an agent of any domain reads and writes of its world."""

    trace: TraceWriter
    broker: Broker
    counters: Counter[str]
