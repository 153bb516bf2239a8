"""The decision broker: LLM latency never blocks the clock, and never reorders it.

An agent that needs a language-model decision submits a job and waits on a
simpy event. The broker gathers every job submitted within `window` simulated
seconds of the first one (a lookahead in which agents cannot affect each
other: each decision depends only on what its own persona saw), runs them
concurrently on one asyncio loop, and wakes the agents in a fixed order —
(request time, persona id) — whatever order the answers arrived in.
Simulated time does not move while the answers are awaited, so throughput
follows the LLM server, not the number of agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import simpy
from simpy.events import EventPriority

# After every ordinary event of the same instant (simpy's NORMAL is 1), so all
# agents due then have submitted before the batch goes out.
_AFTER_NORMAL = EventPriority(2)


class _Flush(simpy.Event):
    """An event that fires `delay` later, behind that instant's ordinary events."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, _AFTER_NORMAL, delay)


@dataclass
class _Ticket:
    order: tuple[float, str]
    job: Callable[[], Awaitable[Any]]
    deliver: Callable[[Any], None]
    wake: simpy.Event


class Broker:
    """Batches decisions due together and resumes their agents deterministically."""

    def __init__(self, window: float = 0.0) -> None:
        if window < 0:
            raise ValueError(f"broker window must be >= 0 simulated seconds, not {window}")
        self.window = window
        self._pending: list[_Ticket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # a flush timer only flushes the batch it was set for
        self.batches: list[int] = []  # batch sizes, for the bench

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The one event loop every LLM call runs on (clients bind to it)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def submit(
        self,
        env: simpy.Environment,
        order: tuple[float, str],
        job: Callable[[], Awaitable[Any]],
        deliver: Callable[[Any], None],
    ) -> simpy.Event:
        """Queue `job`; `deliver` gets its result at the flush; the event wakes the agent."""
        if not self._pending:
            generation = self._generation
            _Flush(env, self.window).callbacks.append(lambda _event: self._timer(generation))
        ticket = _Ticket(order=order, job=job, deliver=deliver, wake=env.event())
        self._pending.append(ticket)
        return ticket.wake

    @property
    def pending(self) -> int:
        """Jobs waiting for the next flush."""
        return len(self._pending)

    def _timer(self, generation: int) -> None:
        if generation == self._generation:
            self.flush()

    def flush(self) -> None:
        """Run every pending job now and hand out the results in order."""
        self._generation += 1
        tickets, self._pending = sorted(self._pending, key=lambda t: t.order), []
        if not tickets:
            return
        self.batches.append(len(tickets))
        results = self.loop.run_until_complete(_gather([t.job for t in tickets]))
        for result in results:
            # Brains turn LLM failures into values; what is left (a spent budget, a bug)
            # stops the run, and the caller decides how to end it.
            if isinstance(result, BaseException):
                raise result
        # Results are stored before anyone wakes, so a checkpoint taken now holds them.
        for ticket, result in zip(tickets, results, strict=True):
            ticket.deliver(result)
        for ticket in tickets:
            ticket.wake.succeed()

    def close(self) -> None:
        """Close the event loop."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


async def _gather(jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    # Exceptions come back as values: one failed decision must not sink the batch.
    return list(await asyncio.gather(*(job() for job in jobs), return_exceptions=True))
