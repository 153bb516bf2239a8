"""A recommender served over HTTP (`--target http://HOST:PORT[/prefix]`), as a `Recommender`.

Each call is one request of the protocol (`protocol.py`), made with httpx:
timeouts, bounded retries with exponential backoff for transport failures,
5xx and 429 (at least as long as a `Retry-After` asks, up to 30 s), and one
connection per run (the simulation asks one page at a
time, so a run never has more than one request in flight). A request that
still fails, or an answer that does not parse, raises `TargetError`: the
persona's session ends with a `target_error` event and the run goes on.

Settings ride on the URL's query, which is not sent on:
`?timeout=10` (seconds per page or event), `fit_timeout=600`, `retries=2`.
A bearer token, if the service needs one, comes from `SIMFOLK_TARGET_API_KEY`
and never from the URL or a file.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any, TypeVar

import httpx
import polars as pl
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from personas.validation import first_error
from simulator.core.redact import redact
from simulator.core.retry_after import honour_retry_after
from simulator.domains.recsys.interfaces import Interaction, RecContext, TargetError
from simulator.domains.recsys.targets.http.protocol import (
    PROTOCOL,
    Ack,
    Context,
    Event,
    FeedbackAnswer,
    FeedbackRequest,
    FitAnswer,
    FitRequest,
    Info,
    RecommendAnswer,
    RecommendRequest,
    Row,
    State,
)

M = TypeVar("M", bound=BaseModel)
TOKEN_VARIABLE = "SIMFOLK_TARGET_API_KEY"
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


RETRY_AFTER_CAP_S = 30.0  # a page waits at most this long for a service that asks to wait


def _transient(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    return isinstance(error, httpx.HTTPStatusError) and (
        error.response.status_code >= 500 or error.response.status_code == 429
    )


class HttpRecommender:
    """The client side of the protocol: one simulation run on one service."""

    def __init__(self, spec: str) -> None:
        base, settings = service_url(spec)
        self.url = redact(str(base))
        self.requests: Counter[str] = Counter()  # by path: what a page or a refit costs
        self.run = uuid.uuid4().hex  # the service's key for this run; not part of any event
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
        self._held = 0  # interactions the service holds for this run
        self._edges: tuple[Any, Any] | None = None  # the first and last of them, to check a base
        self._seq = 0
        self._unheard: list[FeedbackRequest] = []  # events the service has not acknowledged
        try:
            info = self._call("GET", "/v1/info", None, Info)
        except TargetError as error:
            self._http.close()
            raise ValueError(f"target {self.url}: {error}") from None
        self.name, self.version = info.name, info.version

    # --- the Recommender protocol ----------------------------------------------------------
    def fit(self, interactions: pl.DataFrame) -> None:
        """Send what the service has not seen (everything, if it lost count), then it retrains."""
        n = interactions.height
        base = self._held if self._continues(interactions) else 0
        self._held, self._edges = 0, None  # unknown until the service answers
        answer = self._fit(interactions, base)
        if answer is None:  # it holds another count, or forgot the run (it restarted, say)
            answer = self._fit(interactions, 0)
        if answer is None or answer.interactions != n:
            raise TargetError(
                f"target {self.url}: fit left the service holding "
                f"{'an unknown number' if answer is None else answer.interactions} "
                f"interactions, not {n}",
                "bad_answer",
            )
        self._held = n
        self._edges = (interactions.row(0), interactions.row(n - 1)) if n else None

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        """One request; the page it answers (checked against the catalogue by the caller)."""
        request = RecommendRequest(
            user=str(user),
            k=int(k),
            context=Context(
                t=float(context.t), session=int(context.session), page=int(context.page),
                exclude=sorted(int(x) for x in context.exclude),
            ),
        )  # fmt: skip
        return list(self._call("POST", self._path("recommend"), request, RecommendAnswer).items)

    def feedback(self, event: Interaction) -> None:
        """One request per click or rating, numbered so that a retry applies once.

        An event the service did not acknowledge is sent again, first, with the next.
        """
        self._seq += 1
        rating = None if event.rating is None else float(event.rating)
        self._unheard.append(
            FeedbackRequest(
                seq=self._seq,
                event=Event(
                    user=str(event.user), item_id=int(event.item_id), kind=event.kind,
                    t=float(event.t), rating=rating,
                ),
            )
        )  # fmt: skip
        while self._unheard:
            self._call("POST", self._path("feedback"), self._unheard[0], FeedbackAnswer)
            self._unheard.pop(0)

    def get_state(self) -> dict[str, Any]:
        """The service's state for the run, plus what this side counts."""
        try:
            remote: str | None = self._call("GET", self._path("state"), None, State).state
            missing = ""
        except TargetError as error:  # a checkpoint must not stop the run; a resume will say
            remote, missing = None, str(error)
        return {
            "remote": remote,
            "missing": missing,
            "held": self._held,
            "edges": list(self._edges) if self._edges else None,
            "seq": self._seq,
            "unheard": [request.model_dump(mode="json") for request in self._unheard],
        }

    def describe(self) -> dict[str, str]:
        """What the manifest records of the service."""
        return {"protocol": PROTOCOL, "url": self.url, "name": self.name, "version": self.version}

    def set_state(self, state: dict[str, Any]) -> None:
        """Give the service back its state for the run, under this run's id."""
        if state["remote"] is None:
            raise ValueError(
                f"target {self.url}: the checkpoint holds no state of the service "
                f"({state['missing']}); the run cannot continue exactly: start it afresh"
            )
        try:
            self._call("PUT", self._path("state"), State(state=state["remote"]), Ack)
            self._held, self._seq = int(state["held"]), int(state["seq"])
            self._edges = (state["edges"][0], state["edges"][1]) if state["edges"] else None
            self._unheard = [FeedbackRequest.model_validate(r) for r in state["unheard"]]
        except (TargetError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"target {self.url}: cannot restore its state: {error}") from None

    def close(self) -> None:
        """Tell the service the run is over, and close the connection."""
        try:
            self._call("DELETE", f"/v1/runs/{self.run}", None, Ack)
        except TargetError:
            pass  # the service forgets idle runs itself
        finally:
            self._http.close()

    # --- the wire --------------------------------------------------------------------------
    def _path(self, what: str) -> str:
        return f"/v1/runs/{self.run}/{what}"

    def _continues(self, interactions: pl.DataFrame) -> bool:
        # The world only ever appends; check the ends of what was sent before trusting a base.
        n = self._held
        if not n or self._edges is None or interactions.height < n:
            return False
        return (interactions.row(0), interactions.row(n - 1)) == self._edges

    def _fit(self, interactions: pl.DataFrame, base: int) -> FitAnswer | None:
        rows = [Row(**row) for row in interactions.slice(base).iter_rows(named=True)]
        try:
            return self._call(
                "POST",
                self._path("fit"),
                FitRequest(base=base, interactions=rows),
                FitAnswer,
                timeout=self._fit_timeout,
                conflict=True,
            )
        except _Conflict:
            return None

    def _call(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        answer: type[M],
        *,
        timeout: float | None = None,
        conflict: bool = False,
    ) -> M:
        parts = path.split("/")  # "", "v1", "runs", run, what
        self.requests[
            parts[4] if len(parts) > 4 else method.lower() if len(parts) > 3 else path
        ] += 1
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
                        raise _Conflict()
                    response.raise_for_status()
        except httpx.TimeoutException as exc:
            raise TargetError(f"{method} {path}: timed out ({exc})", "timeout") from None
        except httpx.RequestError as exc:  # refused, reset, undecodable, redirected
            raise TargetError(
                f"{method} {path}: {exc or type(exc).__name__}", "unavailable"
            ) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise TargetError(
                f"{method} {path}: HTTP {status}: {redact(exc.response.text[:300])}",
                f"http_{status}",
            ) from None
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            place, message = first_error(exc)
            raise TargetError(
                f"{method} {path}: the answer is not a {answer.__name__} "
                f"({place or answer.__name__}: {message})",
                "bad_answer",
            ) from None


class _Conflict(Exception):
    """The service holds another count (409) or no run (404): the client resends from 0."""


__all__ = ["PROTOCOL", "TOKEN_VARIABLE", "HttpRecommender", "service_url"]
