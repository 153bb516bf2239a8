"""The reference search service: any engine simfolk can build, served on `simfolk-search/1`.

`simfolk serve search --engine NAME|MODULE:ATTR --dataset D --port P` runs
this app on uvicorn: a working implementation to copy, and the suite's way to
exercise the real network path (a run against it on loopback writes the same
events as the same engine in process). Each run (the `{run}` in the path) gets
its own engine from the factory on its first request; a lock per run keeps
its requests in order, and the engines work in a thread so the event loop
stays free. Runs not heard from are forgotten beyond `max_runs`, oldest first.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core import statecodec
from simulator.core.service_protocol import Ack, ErrorAnswer, State
from simulator.core.service_server import Refused, json_response, run_route
from simulator.domains.search.engines.http.protocol import (
    PROTOCOL,
    FeedbackAnswer,
    FeedbackRequest,
    Hit,
    Info,
    SearchAnswer,
    SearchRequest,
)
from simulator.domains.search.interfaces import SearchClick, SearchContext, SearchEngine


@dataclass
class _Run:
    engine: SearchEngine
    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(text: str) -> BaseModel:
    return ErrorAnswer(error=text)


def search_app(
    factory: Callable[[], SearchEngine], version: str = "", max_runs: int = 16
) -> Starlette:
    """An ASGI app serving `factory()`'s engines, one per run."""
    name = factory().name  # built once up front: a broken engine fails here, not mid-run
    runs: OrderedDict[str, _Run] = OrderedDict()
    guard = threading.Lock()

    def keep(run: str, state: _Run) -> _Run:
        with guard:
            runs[run] = state
            runs.move_to_end(run)
            idle = [key for key, held in runs.items() if key != run and not held.lock.locked()]
            for key in idle[: max(len(runs) - max_runs, 0)]:
                del runs[key]
        return state

    def held(run: str) -> _Run:
        with guard:
            if run in runs:
                runs.move_to_end(run)
                return runs[run]
        return keep(run, _Run(factory()))  # a run starts with its first request

    def search(run: str, request: SearchRequest) -> BaseModel:
        state, c = held(run), request.context
        context = SearchContext(c.user, c.t, c.session, c.query_number)
        with state.lock:
            found = state.engine.search(request.query, request.k, context)
        return SearchAnswer(
            results=[Hit(doc_id=r.doc_id, title=r.title, snippet=r.snippet, url=r.url)
                     for r in found]
        )  # fmt: skip

    def feedback(run: str, request: FeedbackRequest) -> BaseModel:
        state, c = held(run), request.click
        with state.lock:
            if request.seq == state.seq + 1:
                state.engine.feedback(SearchClick(c.user, c.query, c.doc_id, c.rank, c.t))
                state.seq = request.seq
            elif request.seq > state.seq + 1:
                raise Refused(409, _error(f"click {request.seq} after {state.seq}: one is missing"))
            return FeedbackAnswer(seq=state.seq)

    def get_state(run: str) -> BaseModel:
        state = held(run)
        with state.lock:
            try:
                blob = statecodec.encode({"engine": state.engine.get_state(), "seq": state.seq})
            except statecodec.StateError as exc:  # the engine keeps something that is not data
                raise Refused(501, _error(f"this engine's state cannot be kept: {exc}")) from None
        return State(state=base64.b64encode(blob).decode("ascii"))

    def put_state(run: str, request: State) -> BaseModel:
        try:
            saved = statecodec.decode(base64.b64decode(request.state, validate=True))
            engine = factory()
            engine.set_state(saved["engine"])
            restored = _Run(engine, int(saved["seq"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused(400, _error(f"not a state this service wrote ({exc})")) from None
        keep(run, restored)
        return Ack()

    def forget(run: str) -> BaseModel:
        with guard:
            runs.pop(run, None)
        return Ack()

    async def info(request: Request) -> Response:
        return json_response(Info(protocol=PROTOCOL, name=name, version=version))

    return Starlette(
        routes=[
            Route("/v1/info", info, methods=["GET"]),
            run_route("/v1/runs/{run}/search", "POST", search, SearchRequest, _error),
            run_route("/v1/runs/{run}/feedback", "POST", feedback, FeedbackRequest, _error),
            run_route("/v1/runs/{run}/state", "GET", get_state, None, _error),
            run_route("/v1/runs/{run}/state", "PUT", put_state, State, _error),
            run_route("/v1/runs/{run}", "DELETE", forget, None, _error),
        ]
    )
