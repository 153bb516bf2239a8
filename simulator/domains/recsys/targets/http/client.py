"""A recommender served over HTTP (`--target http://HOST:PORT[/prefix]`), as a `Recommender`.

Each call is one request of the protocol (`protocol.py`) on the wire every
HTTP target shares (`simulator.core.service_client`): httpx, timeouts,
bounded retries with backoff for transport failures, 5xx and 429 (honouring
`Retry-After` up to 30 s), and one connection per run (the simulation asks
one page at a time, so a run never has more than one request in flight). A
request that still fails, or an answer that does not parse, raises
`TargetError`: the persona's session ends with a `target_error` event and the run goes on.

Settings ride on the URL's query, which is not sent on:
`?timeout=10` (seconds per page or event), `fit_timeout=600`, `retries=2`.
A bearer token, if the service needs one, comes from `SIMFOLK_TARGET_API_KEY`
and never from the URL or a file.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from simulator.core.service_client import TOKEN_VARIABLE, Conflict, ServiceClient, service_url
from simulator.domains.recsys.interfaces import Interaction, RecContext, TargetError
from simulator.domains.recsys.targets.http.protocol import (
    PROTOCOL,
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
)


class HttpRecommender(ServiceClient):
    """The client side of the protocol: one simulation run on one service."""

    def __init__(self, spec: str) -> None:
        super().__init__(spec, TargetError)
        self._held = 0  # interactions the service holds for this run
        self._edges: tuple[Any, Any] | None = None  # the first and last of them, to check a base
        info = self.hello(Info)
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
        return list(self.call("POST", self.path("recommend"), request, RecommendAnswer).items)

    def feedback(self, event: Interaction) -> None:
        """One request per click or rating, numbered so that a retry applies once."""
        rating = None if event.rating is None else float(event.rating)
        sent = Event(user=str(event.user), item_id=int(event.item_id), kind=event.kind,
                     t=float(event.t), rating=rating)  # fmt: skip
        self.send_numbered(lambda seq: FeedbackRequest(seq=seq, event=sent), FeedbackAnswer)

    def get_state(self) -> dict[str, Any]:
        """The service's state for the run, plus what this side counts."""
        remote, missing = self.remote_state()
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
        self.restore_remote(state["remote"], state["missing"])
        try:
            self._held, self._seq = int(state["held"]), int(state["seq"])
            self._edges = (state["edges"][0], state["edges"][1]) if state["edges"] else None
            self._unheard = [FeedbackRequest.model_validate(r) for r in state["unheard"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"target {self.url}: cannot restore its state: {error}") from None

    def _continues(self, interactions: pl.DataFrame) -> bool:
        # The world only ever appends; check the ends of what was sent before trusting a base.
        n = self._held
        if not n or self._edges is None or interactions.height < n:
            return False
        return (interactions.row(0), interactions.row(n - 1)) == self._edges

    def _fit(self, interactions: pl.DataFrame, base: int) -> FitAnswer | None:
        rows = [Row(**row) for row in interactions.slice(base).iter_rows(named=True)]
        try:
            return self.call(
                "POST",
                self.path("fit"),
                FitRequest(base=base, interactions=rows),
                FitAnswer,
                timeout=self._fit_timeout,
                conflict=True,
            )
        except Conflict:
            return None


__all__ = ["PROTOCOL", "TOKEN_VARIABLE", "HttpRecommender", "service_url"]
