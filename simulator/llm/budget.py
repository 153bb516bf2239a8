"""A spending limit on tokens and dollars, shared by concurrent calls.

Before each HTTP attempt the caller reserves a (high) estimate of what it will
spend, and settles it with the real usage when the answer comes. An attempt is
admitted while spent + reserved stays under the limit, or when nothing else is
in flight; otherwise it waits for in-flight attempts to settle. It is refused
(BudgetExhausted) only once what is really spent reaches a limit. So if no
estimate is below the real usage, the total spent exceeds a limit by less than
one call, and a conservative estimate never ends a run early.

A cache hit is consumed at its recorded cost (`spend`), although nothing is
paid for it: the budget counts what the run uses, so a warm rerun or a resume
stops where the original stopped. Once a limit is reached every later call is
refused, cache hits included, and "exhausted" means one thing everywhere.

An attempt may also ask to go `alone` (while the caller cannot yet estimate
well): it is admitted only when nothing else is in flight.

All use is from one event loop at a time (no threads), so plain counters suffice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from simulator.llm.errors import BudgetExhausted


@dataclass(frozen=True)
class Reservation:
    """What one admitted attempt may spend, held until settled."""

    tokens: int
    usd: float


class Budget:
    """Token and dollar limits; None means no limit."""

    def __init__(self, tokens: int | None = None, usd: float | None = None) -> None:
        self.tokens = tokens
        self.usd = usd
        self.spent_tokens = 0
        self.spent_usd = 0.0
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._in_flight = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def exhausted(self) -> bool:
        """Whether what is already spent reaches a limit."""
        return (self.tokens is not None and self.spent_tokens >= self.tokens) or (
            self.usd is not None and self.spent_usd >= self.usd
        )

    def check(self) -> None:
        """Raise BudgetExhausted if the budget is spent."""
        if self.exhausted:
            raise BudgetExhausted(self._describe())

    async def reserve(
        self,
        tokens: int = 0,
        usd: float = 0.0,
        *,
        alone: Callable[[], bool] = lambda: False,
        estimate: Callable[[], tuple[int, float]] | None = None,
    ) -> Reservation:
        """Admit one attempt, waiting while in-flight reservations fill the budget.

        While `alone()` says so (asked afresh at each wake-up), wait until nothing else
        is in flight. `estimate`, if given, gives (tokens, usd) at the moment of
        admission, so what was learned while waiting counts.

        Raises:
            BudgetExhausted: what is spent reaches a limit.
        """
        while True:
            self.check()
            if self._in_flight == 0 or not (alone() or self._full()):
                if estimate is not None:
                    tokens, usd = estimate()
                self._reserved_tokens += tokens
                self._reserved_usd += usd
                self._in_flight += 1
                return Reservation(tokens, usd)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def settle(self, reservation: Reservation, tokens: int, usd: float = 0.0) -> None:
        """Replace a reservation by what the attempt really spent, and wake waiters."""
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        self._in_flight -= 1
        self.spent_tokens += tokens
        self.spent_usd += usd
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # a cancelled waiter is simply dropped
                waiter.set_result(None)

    def spend(self, tokens: int, usd: float = 0.0) -> None:
        """Count what a cache hit consumed (it was admitted by `check`, never reserved)."""
        self.spent_tokens += tokens
        self.spent_usd += usd

    def _full(self) -> bool:
        """Whether spent plus reserved reaches a limit."""
        over_tokens = (
            self.tokens is not None and self.spent_tokens + self._reserved_tokens >= self.tokens
        )
        over_usd = self.usd is not None and self.spent_usd + self._reserved_usd >= self.usd
        return over_tokens or over_usd

    def _describe(self) -> str:
        parts = []
        if self.tokens is not None:
            parts.append(f"{self.spent_tokens}/{self.tokens} tokens")
        if self.usd is not None:
            parts.append(f"${self.spent_usd:.4f}/${self.usd:.4f}")
        return "LLM budget spent: " + ", ".join(parts)
