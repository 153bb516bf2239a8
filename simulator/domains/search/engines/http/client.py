"""A search engine served over HTTP (`--target http://HOST:PORT[/prefix]`), as a `SearchEngine`.

Each call is one request of `simfolk-search/1` (`protocol.py`) on the wire
every HTTP target shares (`simulator.core.service_client`: one connection,
retries with backoff and `Retry-After`, the token from
`SIMFOLK_TARGET_API_KEY`, settings such as `?timeout=10` on the URL). A request
that still fails, or an answer that does not parse, raises `SearchError`: the
persona's session ends with a `target_error` event and the run goes on.
"""

from __future__ import annotations

from typing import Any

from simulator.core.service_client import ServiceClient
from simulator.domains.search.engines.http.protocol import (
    PROTOCOL,
    Click,
    Context,
    FeedbackAnswer,
    FeedbackRequest,
    Info,
    SearchAnswer,
    SearchRequest,
)
from simulator.domains.search.interfaces import (
    SearchClick,
    SearchContext,
    SearchError,
    SearchResult,
)


class HttpSearchEngine(ServiceClient):
    """The client side of the protocol: one simulation run on one service."""

    def __init__(self, spec: str) -> None:
        super().__init__(spec, SearchError, what="engine")
        info = self.hello(Info)
        self.name, self.version = info.name, info.version

    def search(self, query: str, k: int, context: SearchContext) -> list[SearchResult]:
        """One request; its page (checked against k and for repeats by the caller)."""
        request = SearchRequest(
            query=query,
            k=k,
            context=Context(user=context.user, t=context.t, session=context.session,
                            query_number=context.query_number),
        )  # fmt: skip
        answer = self.call("POST", self.path("search"), request, SearchAnswer)
        return [SearchResult(h.doc_id, h.title, h.snippet, h.url) for h in answer.results]

    def feedback(self, click: SearchClick) -> None:
        """One request per click, numbered so that a retry applies once."""
        c = Click(user=click.user, query=click.query, doc_id=click.doc_id, rank=click.rank,
                  t=click.t)  # fmt: skip
        self.send_numbered(lambda seq: FeedbackRequest(seq=seq, click=c), FeedbackAnswer)

    def get_state(self) -> dict[str, Any]:
        """The service's state for the run, plus what this side counts."""
        remote, missing = self.remote_state()
        unheard = [request.model_dump(mode="json") for request in self._unheard]
        return {"remote": remote, "missing": missing, "seq": self._seq, "unheard": unheard}

    def set_state(self, state: dict[str, Any]) -> None:
        """Give the service back its state for the run, under this run's id."""
        self.restore_remote(state["remote"], state["missing"])
        try:
            self._seq = int(state["seq"])
            self._unheard = [FeedbackRequest.model_validate(r) for r in state["unheard"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"engine {self.url}: cannot restore its state: {error}") from None

    def describe(self) -> dict[str, str]:
        """What the manifest records of the service."""
        return {"protocol": PROTOCOL, "url": self.url, "name": self.name, "version": self.version}
