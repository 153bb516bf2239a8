"""How long a server asked to be left alone: Retry-After, for every client that retries.

The LLM layer and the recommender-service client both retry 429s and 5xx with
exponential backoff; a server that says how long to wait (`Retry-After:
SECONDS`, or `retry-after-ms`) is waited on at least that long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_RETRY_AFTER_S = 300.0  # a server asking for longer is waited on this long, then retried


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server's Retry-After header asked for, from the exception's response."""
    link: BaseException | None = exc
    for _ in range(16):
        if link is None:
            return None
        response = getattr(link, "response", None)
        headers = getattr(response, "headers", None) or getattr(
            link, "litellm_response_headers", None
        )
        if headers is not None and headers.get("retry-after-ms") is not None:
            return _seconds(str(headers.get("retry-after-ms")), per_second=1000)
        value = headers.get("retry-after") if headers is not None else None
        if value is not None:
            return _seconds(str(value))
        link = link.__cause__ or link.__context__
    return None


def honour_retry_after(
    base: Callable[[Any], float], cap: float = MAX_RETRY_AFTER_S
) -> Callable[[Any], float]:
    """A tenacity wait: `base`'s backoff, or longer (up to `cap`) if the server asked.

    What was asked is the failure's `wait_s` where the client recorded it, else
    read from the failure's response headers.
    """

    def wait(state: Any) -> float:
        failed = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(failed, "wait_s", None)
        if asked is None and failed is not None:
            asked = retry_after(failed)
        return max(base(state), min(asked or 0.0, cap))

    return wait


def _seconds(value: str, per_second: float = 1.0) -> float | None:
    # Seconds only: the HTTP-date form would need the wall clock, which the engine never
    # reads; such a 429 falls back to the exponential backoff.
    try:
        seconds = float(value) / per_second
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
