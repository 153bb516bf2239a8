"""One way to ask a language model: retried, repaired, cached, accounted, budgeted.

`LLM.text` asks for free text, `LLM.structured` for a pydantic model. The
seams are three modules: `transport` (one attempt on the wire and what its
failures mean), `answers` (validation and the repair turns) and `accounts`
(ledger, budget, price). Here they are put together: the cache first, then
attempts retried with exponential backoff on transport faults, and invalid
answers repaired by re-asking a bounded number of times; anything left is
raised as an `LLMFailure`, never papered over with a default.

An `LLM` is meant for one persistent event loop (calls gathered with
`loop.run_until_complete`); it also works across loops, one at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from simulator.core.retry_after import honour_retry_after, retry_after
from simulator.llm.accounts import Accounts
from simulator.llm.answers import (
    CallTag,
    Invalid,
    Reply,
    Structured,
    check_text,
    repair_message,
    response_format_for,
    validator,
)
from simulator.llm.budget import Budget
from simulator.llm.cache import CachedAnswer, ResponseCache, cache_key
from simulator.llm.config import LLMConfig
from simulator.llm.errors import InvalidAnswer, LLMFailure, TransportError
from simulator.llm.ledger import CallLedger
from simulator.llm.transport import (
    Transient,
    classify,
    complete,
    drain,
)

__all__ = ["LLM", "CallTag", "Reply", "Structured", "classify", "response_format_for"]

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")


class LLM:
    """Asks one model, through litellm, with retries, repairs, cache, ledger and budget.

    The LLM takes over the cache and ledger it is given: `close` flushes the
    ledger and closes the cache.
    """

    failure = LLMFailure  # what it raises for an unusable answer (see personas.anthology)

    def __init__(
        self,
        config: LLMConfig,
        *,
        model: str,
        api_base: str | None,
        api_key: str | None = None,
        cache: ResponseCache | None = None,
        ledger: CallLedger | None = None,
        budget: Budget | None = None,
        cache_identity: str | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.api_base = api_base
        self.identity = cache_identity or model
        self.cache = cache if config.cache else None
        self.ledger = ledger
        self.budget = budget
        self.accounts = Accounts(model, self.identity, ledger, budget)
        self._api_key = api_key
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never show the key
        return f"LLM(model={self.model!r}, api_base={self.api_base!r}, identity={self.identity!r})"

    # -- public ---------------------------------------------------------------------

    async def text(
        self,
        messages: list[dict[str, str]],
        *,
        tag: CallTag,
        seed: int,
        max_tokens: int | None = None,
    ) -> Reply:
        """Free text. Raises LLMFailure (TransportError, InvalidAnswer) or BudgetExhausted."""
        _, reply, _ = await self._ask(messages, None, check_text, tag, seed, max_tokens)
        return reply

    async def structured(
        self,
        messages: list[dict[str, str]],
        output: type[T],
        *,
        tag: CallTag,
        seed: int,
        max_tokens: int | None = None,
    ) -> Structured[T]:
        """An instance of `output`, validated. Raises LLMFailure or BudgetExhausted."""
        value, reply, repairs = await self._ask(
            messages, response_format_for(output), validator(output), tag, seed, max_tokens
        )
        return Structured(value=value, reply=reply, repairs=repairs)

    def probe(self) -> None:
        """One tiny request, never cached, before a run's clock starts.

        A wrong model name, key or endpoint then fails here, once, with the
        provider's words, instead of as every decision of a run that says complete.
        Transient faults are retried as any call's are. Raises TransportError.
        """
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._probe())
        finally:
            loop.run_until_complete(drain())
            loop.close()

    async def _probe(self) -> None:
        ask = [{"role": "user", "content": "Reply with the word OK."}]
        tag, attempt = CallTag("probe"), 0
        try:
            async for try_ in self._retrying():
                with try_:
                    attempt = try_.retry_state.attempt_number - 1
                    reply, latency, cost, opened = await self._http(
                        ask, None, tag, 0, 1, attempt, 0
                    )
        except Transient as failed:
            raise TransportError(failed.reason, failed.detail, attempts=attempt + 1) from None
        self.accounts.record(tag, attempt, 0, reply, latency=latency, cost=cost, opened=opened)

    def _retrying(self) -> AsyncRetrying:
        """Every HTTP exchange's retries: transient faults only, backing off (or as told)."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.config.retries + 1),
            wait=honour_retry_after(wait_exponential(multiplier=self.config.backoff_s, exp_base=2)),
            retry=retry_if_exception_type(Transient),
            reraise=True,
        )

    def close(self) -> None:
        """Flush the ledger and close the cache."""
        if self.ledger is not None:
            self.ledger.close()
        if self.cache is not None:
            self.cache.close()

    async def aclose(self) -> None:
        """Let litellm's background logging finish on this loop (call before closing it)."""
        await drain()

    # -- one question, repaired --------------------------------------------------------

    async def _ask(
        self,
        messages: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        check: Callable[[Reply], V],
        tag: CallTag,
        seed: int,
        max_tokens: int | None,
    ) -> tuple[V, Reply, int]:
        limit = max_tokens if max_tokens is not None else self.config.max_tokens
        conversation = [dict(message) for message in messages]
        problem: Invalid | None = None
        for repair in range(self.config.repairs + 1):
            try:
                value, reply = await self._request(
                    conversation, response_format, check, tag, seed, limit, repair
                )
                return value, reply, repair
            except Invalid as invalid:
                problem = invalid
                answer = invalid.reply.text if invalid.reply is not None else ""
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": answer},
                    {
                        "role": "user",
                        "content": repair_message(invalid, response_format is not None),
                    },
                ]
        assert problem is not None  # the loop ran at least once
        raise InvalidAnswer(problem.reason, problem.detail, attempts=self.config.repairs + 1)

    # -- one request: cache, then HTTP with retries --------------------------------------

    async def _request(
        self,
        conversation: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        check: Callable[[Reply], V],
        tag: CallTag,
        seed: int,
        limit: int,
        repair: int,
    ) -> tuple[V, Reply]:
        self.accounts.check()
        key = cache_key(
            model=self.identity,
            messages=conversation,
            temperature=self.config.temperature,
            max_tokens=limit,
            seed=seed,
            response_format=response_format,
        )
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                reply = Reply(
                    text=hit.text,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                    cache_hit=True,
                    finish_reason=hit.finish_reason,
                )
                free = 0.0 if self.accounts.price(0, 0) is not None else None  # a hit costs nothing
                self.accounts.consume_cached(reply)  # ... but the run consumed it
                return self._judge(reply, check, tag, 0, repair, latency=0.0, cost=free)

        attempt = 0
        try:
            async for try_ in self._retrying():
                with try_:
                    attempt = try_.retry_state.attempt_number - 1
                    reply, latency, cost, opened = await self._http(
                        conversation, response_format, tag, seed, limit, attempt, repair
                    )
        except Transient as failed:
            raise TransportError(failed.reason, failed.detail, attempts=attempt + 1) from None
        if self.cache is not None:
            answer = CachedAnswer(
                reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens
            )
            self.cache.put(key, answer)
        return self._judge(
            reply, check, tag, attempt, repair, latency=latency, cost=cost, opened=opened
        )

    async def _http(
        self,
        conversation: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        tag: CallTag,
        seed: int,
        limit: int,
        attempt: int,
        repair: int,
    ) -> tuple[Reply, float, float | None, int | None]:
        """One HTTP attempt; a failure is recorded, then raised (Transient if retryable).

        Returns the reply, its latency and cost, and the ledger handle its row must close.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in conversation],
            "api_base": self.api_base,
            "api_key": self._api_key,
            "temperature": self.config.temperature,
            "max_tokens": limit,
            "seed": seed,
            "timeout": self.config.timeout_s,
            "num_retries": 0,
            "max_retries": 0,  # the OpenAI SDK's own retries, off: tenacity retries here
            "drop_params": True,  # a provider without `seed` still answers
        }
        if response_format is not None:
            kwargs["response_format"] = response_format
        if self.on_request is not None:  # e.g. the bench, to replay the exact load raw
            self.on_request({k: v for k, v in kwargs.items() if k != "api_key"})
        # A guard in case the client's own timeout misses a trickling answer.
        guard = self.config.timeout_s * 1.5 + 1.0
        async with self._concurrency():
            # Reserved only once a slot is ours: calls queued behind the
            # semaphore are not in flight and must not eat the budget.
            reservation = await self.accounts.reserve(conversation, limit)
            opened = self.accounts.open(tag, attempt, repair)  # journaled before it is sent
            started = time.perf_counter()
            try:
                text, finish, prompt_tokens, completion_tokens = await complete(kwargs, guard)
                latency = time.perf_counter() - started
            except BaseException as exc:
                latency = time.perf_counter() - started
                self.accounts.settle(reservation, 0, 0, 0.0, answered=False)  # spent: unknown
                if not isinstance(exc, Exception):  # cancelled: a request was still made
                    self.accounts.record(
                        tag, attempt, repair, error="cancelled", latency=latency, opened=opened
                    )
                    raise
                reason, retry = classify(exc)
                detail = self._scrub(f"{type(exc).__name__}: {exc}")[:500]
                self.accounts.record(
                    tag, attempt, repair, error=reason, latency=latency, opened=opened
                )
                if retry:
                    raise Transient(reason, detail, retry_after(exc)) from None
                raise TransportError(reason, detail, attempts=attempt + 1) from None
        cost = self.accounts.price(prompt_tokens, completion_tokens)
        self.accounts.settle(reservation, prompt_tokens, completion_tokens, cost or 0.0)
        reply = Reply(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cache_hit=False,
            finish_reason=finish,
        )
        return reply, latency, cost, opened

    # -- helpers -----------------------------------------------------------------------

    def _judge(
        self,
        reply: Reply,
        check: Callable[[Reply], V],
        tag: CallTag,
        attempt: int,
        repair: int,
        *,
        latency: float,
        cost: float | None,
        opened: int | None = None,
    ) -> tuple[V, Reply]:
        """Validate an answer and record its row; raises Invalid (carrying the reply)."""
        try:
            value = check(reply)
        except Invalid as invalid:
            self.accounts.record(
                tag,
                attempt,
                repair,
                reply,
                error=invalid.reason,
                latency=latency,
                cost=cost,
                opened=opened,
            )
            invalid.reply = reply
            raise
        self.accounts.record(tag, attempt, repair, reply, latency=latency, cost=cost, opened=opened)
        return value, reply

    def _concurrency(self) -> asyncio.Semaphore:
        """The semaphore for the running loop (made there: a semaphore binds to its loop)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.config.concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    def _scrub(self, text: str) -> str:
        """Text with the API key masked, should any layer below have echoed it."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text


if TYPE_CHECKING:
    from personas.story_model import StoryModel

    def _writes_stories(llm: LLM) -> StoryModel:
        # The engine's LLM is what `personas.anthology` writes backstories with: mypy checks it.
        return llm
