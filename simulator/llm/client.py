"""One way to ask a language model: retried, repaired, cached, accounted, budgeted.

`LLM.text` asks for free text, `LLM.structured` for a pydantic model. Every
HTTP attempt and every cache hit becomes one ledger row. Transport faults are
retried with exponential backoff; invalid answers are repaired by re-asking a
bounded number of times; anything left is raised as an `LLMFailure`, never
papered over with a default.

An `LLM` is meant for one persistent event loop (calls gathered with
`loop.run_until_complete`); it also works across loops, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import litellm
import openai
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from simulator.llm.budget import Budget, Reservation
from simulator.llm.cache import CachedAnswer, ResponseCache, cache_key
from simulator.llm.config import LLMConfig
from simulator.llm.errors import InvalidAnswer, LLMFailure, TransportError
from simulator.llm.ledger import CallLedger

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")

# Chat templates wrap every message in a few tokens, and some add a default
# system prompt; the budget estimate counts them so it stays an upper bound.
_TOKENS_PER_MESSAGE = 8
_TOKENS_PER_CALL = 32
_CHARS_PER_TOKEN = 3
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(?P<body>.*?)\s*```$", re.DOTALL)

# litellm otherwise prints "Give Feedback / Get Help" banners on every error.
litellm.suppress_debug_info = True


@dataclass(frozen=True)
class CallTag:
    """Who asked, for accounting; never part of the cache key."""

    purpose: str  # "decide", "reflect", "review", "backstory", ...
    persona_id: str | None = None
    t: float | None = None  # simulated seconds


@dataclass(frozen=True)
class Reply:
    """The model's answer to one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cache_hit: bool
    finish_reason: str | None


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A validated answer, the reply it came from and the repairs it took."""

    value: T
    reply: Reply
    repairs: int


class _Invalid(Exception):
    """An answer that came back but cannot be used (internal; drives repairs)."""

    def __init__(self, reason: str, detail: str, reply: Reply | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.reply = reply


class _Transient(Exception):
    """A failed attempt worth retrying (internal; drives tenacity)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Malformed(Exception):
    """A 200 response without the shape of a chat completion."""


def _parse(response: Any) -> tuple[str, str | None, int, int]:
    """Text, finish reason and token usage of a chat completion."""
    try:
        choice = response.choices[0]
        text = choice.message.content or ""
        finish = choice.finish_reason
    except (AttributeError, IndexError, TypeError) as exc:
        raise _Malformed(f"no answer in the response ({exc})") from None
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return str(text), finish, prompt_tokens, completion_tokens


def classify(exc: BaseException) -> tuple[str, bool]:
    """Reason code for an exception from one attempt, and whether to retry it."""
    if isinstance(exc, litellm.Timeout | openai.APITimeoutError | TimeoutError):
        return "timeout", True
    if isinstance(exc, litellm.RateLimitError | openai.RateLimitError):
        return "rate_limited", True
    # litellm reports a refused connection, and the OpenAI SDK's own complaints
    # (no API key, say), as a 500; the cause chain still says what happened.
    link: BaseException | None = exc
    for _ in range(16):
        if link is None:
            break
        if isinstance(link, litellm.APIConnectionError | openai.APIConnectionError):
            return "connection", True
        if type(link) is openai.OpenAIError:  # raised before any request was sent
            return "client_error", False
        link = link.__cause__ or link.__context__
    status = getattr(exc, "status_code", None)
    server_side = (
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
        openai.InternalServerError,
        _Malformed,
    )
    if isinstance(exc, server_side) or (isinstance(status, int) and status >= 500):
        return "server_error", True
    return "client_error", False


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON schema with additionalProperties false on every object."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: walk(value) for key, value in node.items()}
        is_object = out.get("type") == "object" or "properties" in out
        if is_object and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    result: dict[str, Any] = walk(schema)
    return result


@lru_cache(maxsize=256)
def response_format_for(output: type[BaseModel]) -> dict[str, Any]:
    """The json_schema response_format that asks for `output`."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", output.__name__)[:64] or "answer"
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": strict_schema(output.model_json_schema()),
            "strict": True,
        },
    }


def _check_text(reply: Reply) -> str:
    if not reply.text.strip():
        raise _Invalid("empty", "the answer was empty")
    return reply.text


def _validator(output: type[T]) -> Callable[[Reply], T]:
    def check(reply: Reply) -> T:
        text = reply.text.strip()
        if not text:
            raise _Invalid("empty", "the answer was empty")
        fenced = _FENCE.match(text)  # some models wrap JSON in a markdown fence
        if fenced is not None:
            text = fenced["body"]
        try:
            return output.model_validate_json(text)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if any(error["type"] == "json_invalid" for error in errors):
                if reply.finish_reason == "length":
                    raise _Invalid(
                        "truncated", "the answer was cut off before the JSON ended"
                    ) from None
                raise _Invalid("invalid_json", f"not valid JSON ({errors[0]['msg']})") from None
            described = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                for error in errors[:3]
            )
            raise _Invalid("schema", described[:300]) from None

    return check


def _repair_message(problem: _Invalid, structured: bool) -> str:
    """The user turn that asks for a corrected answer."""
    if not structured:
        return "Your answer was empty. Please answer."
    if problem.reason == "truncated":
        return "Your answer was cut off. Reply again with a shorter JSON object, and nothing else."
    if problem.reason == "empty":
        return "Your answer was empty. Reply with the JSON object only."
    return f"That answer was invalid ({problem.detail}). Reply with a corrected JSON object only."


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
        self._api_key = api_key
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._priced: bool | None = None  # memo: does litellm know this model's price
        if budget is not None and budget.usd is not None and self._price(1, 1) is None:
            raise ValueError(
                f"litellm has no price for {model!r}, so a dollar budget cannot be kept;"
                " use a token budget"
            )

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
        _, reply, _ = await self._ask(messages, None, _check_text, tag, seed, max_tokens)
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
            messages, response_format_for(output), _validator(output), tag, seed, max_tokens
        )
        return Structured(value=value, reply=reply, repairs=repairs)

    def close(self) -> None:
        """Flush the ledger and close the cache."""
        if self.ledger is not None:
            self.ledger.flush()
        if self.cache is not None:
            self.cache.close()

    async def aclose(self) -> None:
        """Let litellm's background logging finish on this loop (call before closing it)."""
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        # Best effort: only litellm's own log callbacks are at stake.
        with contextlib.suppress(TimeoutError, RuntimeError):
            await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=5.0)
        await GLOBAL_LOGGING_WORKER.stop()
        # A worker litellm started on this loop before moving to another loop is
        # orphaned here; cancel it so closing the loop destroys no pending task.
        orphans = [
            task
            for task in asyncio.all_tasks()
            if "LoggingWorker." in getattr(task.get_coro(), "__qualname__", "")
        ]
        for task in orphans:
            task.cancel()
        await asyncio.gather(*orphans, return_exceptions=True)

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
        problem: _Invalid | None = None
        for repair in range(self.config.repairs + 1):
            try:
                value, reply = await self._request(
                    conversation, response_format, check, tag, seed, limit, repair
                )
                return value, reply, repair
            except _Invalid as invalid:
                problem = invalid
                answer = invalid.reply.text if invalid.reply is not None else ""
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": answer},
                    {
                        "role": "user",
                        "content": _repair_message(invalid, response_format is not None),
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
        if self.budget is not None:
            self.budget.check()
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
                free = 0.0 if self._price(0, 0) is not None else None  # a hit costs nothing
                return self._judge(reply, check, tag, 0, repair, latency=0.0, cost=free)

        attempt = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.retries + 1),
            wait=wait_exponential(multiplier=self.config.backoff_s, exp_base=2),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for try_ in retrying:
                with try_:
                    attempt = try_.retry_state.attempt_number - 1
                    reply, latency, cost = await self._http(
                        conversation, response_format, tag, seed, limit, attempt, repair
                    )
        except _Transient as failed:
            raise TransportError(failed.reason, failed.detail, attempts=attempt + 1) from None
        if self.cache is not None:
            answer = CachedAnswer(
                reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens
            )
            self.cache.put(key, answer)
        return self._judge(reply, check, tag, attempt, repair, latency=latency, cost=cost)

    async def _http(
        self,
        conversation: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        tag: CallTag,
        seed: int,
        limit: int,
        attempt: int,
        repair: int,
    ) -> tuple[Reply, float, float | None]:
        """One HTTP attempt; a failure is recorded, then raised (_Transient if retryable)."""
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
            reservation = await self._reserve(conversation, limit)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(guard):
                    response = await litellm.acompletion(**kwargs)
                latency = time.perf_counter() - started
                text, finish, prompt_tokens, completion_tokens = _parse(response)
            except BaseException as exc:
                latency = time.perf_counter() - started
                if reservation is not None and self.budget is not None:
                    self.budget.settle(reservation, 0, 0.0)  # nothing known to be spent
                if not isinstance(exc, Exception):  # cancelled: a request was still made
                    self._record(tag, attempt, repair, error="cancelled", latency=latency)
                    raise
                reason, retry = classify(exc)
                detail = self._scrub(f"{type(exc).__name__}: {exc}")[:500]
                self._record(tag, attempt, repair, error=reason, latency=latency)
                if retry:
                    raise _Transient(reason, detail) from None
                raise TransportError(reason, detail, attempts=attempt + 1) from None
        cost = self._price(prompt_tokens, completion_tokens)
        if reservation is not None and self.budget is not None:
            self.budget.settle(reservation, prompt_tokens + completion_tokens, cost or 0.0)
        reply = Reply(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cache_hit=False,
            finish_reason=finish,
        )
        return reply, latency, cost

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
    ) -> tuple[V, Reply]:
        """Validate an answer and record its row; raises _Invalid (carrying the reply)."""
        try:
            value = check(reply)
        except _Invalid as invalid:
            self._record(
                tag, attempt, repair, reply, error=invalid.reason, latency=latency, cost=cost
            )
            invalid.reply = reply
            raise
        self._record(tag, attempt, repair, reply, latency=latency, cost=cost)
        return value, reply

    def _record(
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

    async def _reserve(self, conversation: list[dict[str, str]], limit: int) -> Reservation | None:
        """Admit one attempt against the budget (raises BudgetExhausted), with a high estimate."""
        if self.budget is None:
            return None
        chars = sum(len(message.get("content") or "") for message in conversation)
        prompt = chars // _CHARS_PER_TOKEN + _TOKENS_PER_MESSAGE * len(conversation)
        prompt += _TOKENS_PER_CALL
        return await self.budget.reserve(prompt + limit, self._price(prompt, limit) or 0.0)

    def _concurrency(self) -> asyncio.Semaphore:
        """The semaphore for the running loop (made there: a semaphore binds to its loop)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.config.concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for this usage, or None when litellm does not price the model."""
        if self._priced is False:
            return None
        try:
            prompt_usd, completion_usd = litellm.cost_per_token(
                model=self.model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:
            self._priced = False
            return None
        self._priced = True
        return float(prompt_usd + completion_usd)

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
