"""The wire: one chat-completion attempt through litellm, and what its failures mean.

`complete` makes exactly one attempt (retries are the client's); `classify`
turns an exception into a reason code and whether another attempt may help.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import litellm
import openai

from simulator.core.text import clean_text

# litellm otherwise prints "Give Feedback / Get Help" banners on every error.
litellm.suppress_debug_info = True


class Transient(Exception):
    """A failed attempt worth retrying (internal; drives tenacity)."""

    def __init__(self, reason: str, detail: str, wait_s: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.wait_s = wait_s  # what the server asked for (Retry-After), if it did


class Malformed(Exception):
    """A 200 response without the shape of a chat completion."""


def parse(response: Any) -> tuple[str, str | None, int, int]:
    """Text, finish reason and token usage of a chat completion."""
    try:
        choice = response.choices[0]
        text = clean_text(str(choice.message.content or ""))
        finish = choice.finish_reason
    except (AttributeError, IndexError, TypeError) as exc:
        raise Malformed(f"no answer in the response ({exc})") from None
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
        Malformed,
    )
    if isinstance(exc, server_side) or (isinstance(status, int) and status >= 500):
        return "server_error", True
    return "client_error", False


async def complete(kwargs: dict[str, Any], guard: float) -> tuple[str, str | None, int, int]:
    """One attempt: text, finish reason and token usage; `guard` seconds at most."""
    async with asyncio.timeout(guard):
        response = await litellm.acompletion(**kwargs)
    return parse(response)


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars for this usage by litellm's price map; raises if it does not price `model`."""
    prompt_usd, completion_usd = litellm.cost_per_token(
        model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    return float(prompt_usd + completion_usd)


async def drain() -> None:
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
