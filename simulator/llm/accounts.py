"""What asking costs: one ledger row per attempt or cache hit, the budget, the price.

Every HTTP attempt and every cache hit becomes one ledger row. An attempt is
admitted against the budget with a high estimate before it is sent and settled
with what the server reports after; a dollar budget needs a model litellm can
price.
"""

from __future__ import annotations

from typing import Any

from simulator.llm.answers import CallTag, Reply
from simulator.llm.budget import Budget, Reservation
from simulator.llm.ledger import CallLedger
from simulator.llm.transport import price

# Chat templates wrap every message in a few tokens, and some add a default
# system prompt; the budget estimate counts them so it stays an upper bound.
_TOKENS_PER_MESSAGE = 8
_TOKENS_PER_CALL = 32
_CHARS_PER_TOKEN = 3


class Accounts:
    """The ledger, the budget and the price of one model's calls."""

    def __init__(
        self, model: str, identity: str, ledger: CallLedger | None, budget: Budget | None
    ) -> None:
        self.model = model
        self.identity = identity
        self.ledger = ledger
        self.budget = budget
        self._priced: bool | None = None  # memo: does litellm know this model's price
        if budget is not None and budget.usd is not None and self.price(1, 1) is None:
            raise ValueError(
                f"litellm has no price for {model!r}, so a dollar budget cannot be kept;"
                " use a token budget"
            )

    def record(
        self,
        tag: CallTag,
        attempt: int,
        repair: int,
        reply: Reply | None = None,
        *,
        error: str | None = None,
        latency: float,
        cost: float | None = None,
    ) -> None:
        """One ledger row: a reply (valid unless `error`), or a failed attempt (no reply)."""
        if self.ledger is None:
            return
        self.ledger.record(
            purpose=tag.purpose,
            persona_id=tag.persona_id,
            t=tag.t,
            model=self.identity,
            attempt=attempt,
            repair=repair,
            cache_hit=reply is not None and reply.cache_hit,
            ok=reply is not None and error is None,
            error=error,
            prompt_tokens=reply.prompt_tokens if reply is not None else 0,
            completion_tokens=reply.completion_tokens if reply is not None else 0,
            latency_s=latency,
            cost_usd=cost,
        )

    def check(self) -> None:
        """Raise BudgetExhausted if the budget is spent."""
        if self.budget is not None:
            self.budget.check()

    async def reserve(self, conversation: list[dict[str, Any]], limit: int) -> Reservation | None:
        """Admit one attempt against the budget (raises BudgetExhausted), with a high estimate."""
        if self.budget is None:
            return None
        chars = sum(len(message.get("content") or "") for message in conversation)
        prompt = chars // _CHARS_PER_TOKEN + _TOKENS_PER_MESSAGE * len(conversation)
        prompt += _TOKENS_PER_CALL
        return await self.budget.reserve(prompt + limit, self.price(prompt, limit) or 0.0)

    def settle(self, reservation: Reservation | None, tokens: int, cost: float) -> None:
        """Replace an attempt's estimate by what it spent."""
        if reservation is not None and self.budget is not None:
            self.budget.settle(reservation, tokens, cost)

    def price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for this usage, or None when litellm does not price the model."""
        if self._priced is False:
            return None
        try:
            cost = price(self.model, prompt_tokens, completion_tokens)
        except Exception:
            self._priced = False
            return None
        self._priced = True
        return cost
