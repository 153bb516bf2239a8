"""The wire of every system under test served over HTTP: one connection, retries, typed answers.

A domain's HTTP client (a recommender's, a search engine's) subclasses
`ServiceClient` and says only what its protocol's requests are. Here: the
URL and the client settings on its query (`?timeout=10`, `fit_timeout=600`,
`retries=2`, not sent on); httpx with one connection per run; bounded retries
with exponential backoff for transport failures, 5xx and 429 (at least as long
as a `Retry-After` asks, up to 30 s); a bearer token from
`SIMFOLK_TARGET_API_KEY`, never from the URL or a file; every answer parsed
into its pydantic model. A request that still fails, or an answer that does
not parse, raises the domain's error type with a reason code — timeout,
unavailable, http_<status>, bad_answer — and a redacted detail.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from personas.validation import first_error
from simulator.core.protocols import StateUnavailable
from simulator.core.redact import redact
from simulator.core.retry_after import honour_retry_after
from simulator.core.service_protocol import Ack, State

M = TypeVar("M", bound=BaseModel)
TOKEN_VARIABLE = "SIMFOLK_TARGET_API_KEY"
RETRY_AFTER_CAP_S = 30.0  # a request waits at most this long for a service that asks to wait
_SETTINGS = {"timeout": 10.0, "fit_timeout": 600.0, "retries": 2.0}


def service_url(spec: str) -> tuple[httpx.URL, dict[str, float]]:
    """The service's base URL and the client settings in its query; ValueError if malformed."""
    try:
        url = httpx.URL(spec)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"target {redact(spec)!r}: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"target {redact(spec)!r}: need http://HOST:PORT[/prefix]")
    settings = dict(_SETTINGS)
    for key, value in url.params.multi_items():
        if key not in settings:
            raise ValueError(
                f"target {redact(spec)!r}: unknown setting {key!r}; "
                f"choose from {', '.join(sorted(settings))}"
            )
        try:
            settings[key] = float(value)
        except ValueError:
            raise ValueError(f"target {redact(spec)!r}: {key}={value!r} is not a number") from None
        if settings[key] < 0 or (key == "retries" and settings[key] > 10):
            raise ValueError(f"target {redact(spec)!r}: {key}={value} is out of range")
    return url.copy_with(query=None, fragment=None), settings


def _transient(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    return isinstance(error, httpx.HTTPStatusError) and (
        error.response.status_code >= 500 or error.response.status_code == 429
    )


class Conflict(Exception):
    """The service answered 404 or 409 where the caller asked to hear it (`conflict=True`)."""


class ServiceClient:
    """One run's connection to one service.

    Args:
        spec: http://HOST:PORT[/prefix][?settings].
        error: the domain's error type, built as error(detail, reason).
        what: what an error calls the service.

    A run's paths are `/v1/runs/{run}/...`; `remote_state`, `restore_remote` and
    `close` are the requests every protocol has for a run's state and its end.
    """

    def __init__(self, spec: str, error: type[Exception], what: str = "target") -> None:
        base, settings = service_url(spec)
        self.url = redact(str(base))
        self.what = what  # what errors call it: "target", "engine"
        self.run = uuid.uuid4().hex  # the service's key for this run; not part of any event
        self._seq = 0  # the last event numbered for the service
        self._unheard: list[Any] = []  # numbered events the service has not acknowledged
        self.requests: Counter[str] = Counter()  # by what was asked: what a page costs
        self._error = error
        self._timeout, self._fit_timeout = settings["timeout"], settings["fit_timeout"]
        self._retrying = Retrying(
            stop=stop_after_attempt(int(settings["retries"]) + 1),
            wait=honour_retry_after(
                wait_exponential(multiplier=0.05, max=2.0), cap=RETRY_AFTER_CAP_S
            ),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        token = os.environ.get(TOKEN_VARIABLE)
        self._http = httpx.Client(
            base_url=str(base).rstrip("/"),
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=1),
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )

    def count_key(self, method: str, path: str) -> str:
        """What `requests` counts a request under (the last part of a run's path)."""
        parts = path.split("/")  # "", "v1", "runs", run, what
        return parts[4] if len(parts) > 4 else method.lower() if len(parts) > 3 else path

    def call(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        answer: type[M],
        *,
        timeout: float | None = None,
        conflict: bool = False,
    ) -> M:
        """One request, retried while it fails transiently; its answer as `answer`."""
        self.requests[self.count_key(method, path)] += 1
        content = None if body is None else body.model_dump_json().encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            for attempt in self._retrying:
                with attempt:
                    response = self._http.request(
                        method, path, content=content, headers=headers,
                        timeout=timeout or self._timeout,
                    )  # fmt: skip
                    if conflict and response.status_code in (404, 409):
                        raise Conflict()
                    response.raise_for_status()
        except httpx.TimeoutException as exc:
            raise self._error(f"{method} {path}: timed out ({exc})", "timeout") from None
        except httpx.RequestError as exc:  # refused, reset, undecodable, redirected
            raise self._error(
                f"{method} {path}: {exc or type(exc).__name__}", "unavailable"
            ) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise self._error(
                f"{method} {path}: HTTP {status}: {redact(exc.response.text[:300])}",
                f"http_{status}",
            ) from None
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            place, message = first_error(exc)
            raise self._error(
                f"{method} {path}: the answer is not a {answer.__name__} "
                f"({place or answer.__name__}: {message})",
                "bad_answer",
            ) from None

    def hello(self, info: type[M]) -> M:
        """The service's `GET /v1/info`; ValueError (the connection closed) if it cannot answer."""
        try:
            return self.call("GET", "/v1/info", None, info)
        except self._error as error:
            self.close_http()
            raise ValueError(f"{self.what} {self.url}: {error}") from None

    def send_numbered(self, make: Callable[[int], BaseModel], answer: type[BaseModel]) -> None:
        """POST the next event, `make(seq)`, to the run's feedback; a retry applies it once.

        An event the service did not acknowledge is sent again, first, with the next; the
        unacknowledged ones are part of the client's checkpointed state.
        """
        self._seq += 1
        self._unheard.append(make(self._seq))
        while self._unheard:
            self.call("POST", self.path("feedback"), self._unheard[0], answer)
            self._unheard.pop(0)

    def path(self, what: str) -> str:
        """The path of this run's `what` (search, feedback, state, ...)."""
        return f"/v1/runs/{self.run}/{what}"

    def remote_state(self) -> tuple[str | None, str]:
        """The service's opaque state for the run, or None and why it cannot keep one.

        A service that is down, slow or busy for now raises StateUnavailable: the
        checkpoint due is not written and the last whole one stands
        (`simulator.core.checkpoint`). One that cannot keep state (no such route, 501)
        gives None: the run goes on, and a resume from that checkpoint says why it cannot.
        """
        try:
            return self.call("GET", self.path("state"), None, State).state, ""
        except self._error as error:
            if _passing(getattr(error, "reason", "")):
                raise StateUnavailable(f"{self.what} {self.url}: no state now ({error})") from None
            return None, str(error)

    def restore_remote(self, remote: str | None, missing: str) -> None:
        """Give the service back `remote` for this run; ValueError saying why it cannot."""
        if remote is None:
            raise ValueError(
                f"{self.what} {self.url}: the checkpoint holds no state of the service "
                f"({missing}); the run cannot continue exactly: start it afresh"
            )
        try:
            self.call("PUT", self.path("state"), State(state=remote), Ack)
        except self._error as error:
            raise ValueError(f"{self.what} {self.url}: cannot restore its state: {error}") from None

    def close(self) -> None:
        """Tell the service the run is over, and close the connection."""
        try:
            self.call("DELETE", f"/v1/runs/{self.run}", None, Ack)
        except self._error:
            pass  # the service forgets idle runs itself
        finally:
            self.close_http()

    def close_http(self) -> None:
        """Close the connection."""
        self._http.close()


def _passing(reason: str) -> bool:
    """Whether a failure may pass: the service is down, slow or busy, not unable."""
    return reason in ("unavailable", "timeout", "http_429") or (
        reason.startswith("http_5") and reason != "http_501"
    )
