"""What asking costs: one ledger row per attempt or cache hit, the budget, the price.

Every HTTP attempt and every cache hit becomes one ledger row. An attempt is
admitted against the budget with a high estimate before it is sent and settled
with what the server reports after; a cache hit is charged its recorded usage.
A dollar budget needs a model litellm can price.

The estimate is the request's real `max_tokens` plus its prompt as litellm's
token counter sees it, scaled by the highest ratio of reported to counted
prompt tokens seen so far: the server's own tokenizer and chat template often
count more. Until one answer has reported its usage, attempts go one at a time,
so an estimate that is still too low can overrun the budget by one call only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import litellm

from simulator.llm.answers import CallTag, Reply
from simulator.llm.budget import Budget, Reservation
from simulator.llm.ledger import CallLedger
from simulator.llm.transport import price

# The token counter must never reach for the network (it would for some model names).
litellm.disable_hf_tokenizer_download = True

# Chat templates wrap every message in a few tokens, and some add a default
# system prompt; the budget estimate counts them so it stays an upper bound.
_TOKENS_PER_MESSAGE = 8
_TOKENS_PER_CALL = 32
_CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Held:
    """An admitted attempt: its reservation, and the prompt tokens counted for it."""

    reservation: Reservation
    counted_prompt: int


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
        # Reported / counted prompt tokens, the highest seen; None until one is reported.
        self._scale: float | None = None
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
        opened: int | None = None,
    ) -> None:
        """One ledger row: a reply (valid unless `error`), or a failed attempt (no reply).

        `opened` is the handle `open` gave the attempt, which the row closes.
        """
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
            opened=opened,
        )

    def open(self, tag: CallTag, attempt: int, repair: int) -> int | None:
        """Journal an HTTP attempt as it is sent (None without a ledger); `record` closes it."""
        if self.ledger is None:
            return None
        return self.ledger.open_request(
            purpose=tag.purpose,
            persona_id=tag.persona_id,
            t=tag.t,
            model=self.identity,
            attempt=attempt,
            repair=repair,
        )

    def check(self) -> None:
        """Raise BudgetExhausted if the budget is spent."""
        if self.budget is not None:
            self.budget.check()

    async def reserve(self, conversation: list[dict[str, Any]], limit: int) -> Held | None:
        """Admit one attempt against the budget (raises BudgetExhausted), with a high estimate."""
        if self.budget is None:
            return None
        counted = self.count_prompt(conversation)

        def estimate() -> tuple[int, float]:  # at admission: the scale may have been learned
            prompt = math.ceil(counted * (self._scale or 1.0))
            return prompt + limit, self.price(prompt, limit) or 0.0

        reservation = await self.budget.reserve(
            estimate=estimate, alone=lambda: self._scale is None
        )
        return Held(reservation, counted)

    def settle(
        self,
        held: Held | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float,
        *,
        answered: bool = True,
    ) -> None:
        """Replace an attempt's estimate by what it spent, and learn from the reported prompt.

        A failed attempt (`answered` False) spent nothing known and teaches nothing; a
        server that reports no usage leaves the scale at 1.
        """
        if held is None or self.budget is None:
            return
        if answered:
            ratio = prompt_tokens / max(held.counted_prompt, 1)
            self._scale = max(self._scale or 1.0, ratio)
        self.budget.settle(held.reservation, prompt_tokens + completion_tokens, cost)

    def consume_cached(self, reply: Reply) -> None:
        """Charge a cache hit its recorded usage: the budget counts what the run consumes."""
        if self.budget is not None:
            tokens = reply.prompt_tokens + reply.completion_tokens
            self.budget.spend(
                tokens, self.price(reply.prompt_tokens, reply.completion_tokens) or 0.0
            )

    def count_prompt(self, conversation: list[dict[str, Any]]) -> int:
        """The prompt's tokens by litellm's counter (characters / 3 if it cannot count)."""
        try:
            counted = int(litellm.token_counter(model=self.model, messages=conversation))
        except Exception:  # an unknown model or message shape: a coarse count will do
            chars = sum(len(message.get("content") or "") for message in conversation)
            counted = chars // _CHARS_PER_TOKEN + _TOKENS_PER_MESSAGE * len(conversation)
        return counted + _TOKENS_PER_CALL

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
