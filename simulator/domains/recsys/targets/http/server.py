"""The reference service: any recommender simfolk can build, served over the protocol.

`simfolk serve recommender --target NAME|MODULE:ATTR --dataset D --port P` runs
this app on uvicorn. It is a working implementation to copy, and the suite's
way to exercise the real network path: a run against it on loopback writes the
same events as the same recommender in process.

Each run (the `{run}` in the path) gets its own recommender from the factory,
and the interactions it was fitted on; a lock per run keeps its requests in
order, and the models work in a thread so the event loop stays free. Runs not
heard from are forgotten beyond `max_runs`, oldest first.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import polars as pl
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core import statecodec
from simulator.core.service_protocol import Ack, ErrorAnswer, State
from simulator.core.service_server import Refused, json_response, run_route, serve
from simulator.domains.recsys.interfaces import (
    INTERACTIONS_SCHEMA,
    Interaction,
    RecContext,
    Recommender,
)
from simulator.domains.recsys.targets.http.protocol import (
    PROTOCOL,
    Conflict,
    FeedbackAnswer,
    FeedbackRequest,
    FitAnswer,
    FitRequest,
    Info,
    RecommendAnswer,
    RecommendRequest,
)

M = TypeVar("M", bound=BaseModel)


@dataclass
class _Run:
    model: Recommender
    interactions: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=INTERACTIONS_SCHEMA)
    )
    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def service_app(
    factory: Callable[[], Recommender], version: str = "", max_runs: int = 16
) -> Starlette:
    """An ASGI app serving `factory()`'s recommenders, one per run."""
    name = factory().name  # built once up front: a broken target fails here, not mid-run
    runs: OrderedDict[str, _Run] = OrderedDict()
    guard = threading.Lock()

    def held(run: str) -> _Run:
        with guard:
            if run not in runs:
                raise Refused(404, _error(f"unknown run {run!r}: fit it first"))
            runs.move_to_end(run)
            return runs[run]

    def keep(run: str, state: _Run) -> None:
        with guard:
            runs[run] = state
            runs.move_to_end(run)
            # The least recently heard-from go first; a run busy with a request stays.
            idle = [key for key, held_ in runs.items() if key != run and not held_.lock.locked()]
            for key in idle[: max(len(runs) - max_runs, 0)]:
                del runs[key]

    def fit(run: str, request: FitRequest) -> BaseModel:
        if request.base == 0:  # everything anew: a fresh model (built outside the guard)
            keep(run, _Run(factory()))
        try:
            state = held(run)
        except Refused:  # an unknown run holds nothing: the client sends all from 0
            raise Refused(409, Conflict(error="unknown run: send from base 0", have=0)) from None
        with state.lock:
            have = state.interactions.height
            if request.base != have:
                raise Refused(409, Conflict(error=f"base {request.base}, have {have}", have=have))
            rows = pl.DataFrame(
                [row.model_dump() for row in request.interactions],
                schema=INTERACTIONS_SCHEMA,
                orient="row",
            )
            state.interactions = (
                rows if request.base == 0 else pl.concat([state.interactions, rows])
            )
            state.model.fit(state.interactions)
            return FitAnswer(interactions=state.interactions.height)

    def recommend(run: str, request: RecommendRequest) -> BaseModel:
        state, c = held(run), request.context
        context = RecContext(t=c.t, session=c.session, page=c.page, exclude=frozenset(c.exclude))
        with state.lock:
            items = state.model.recommend(request.user, request.k, context)
        return RecommendAnswer(items=[int(x) for x in items])

    def feedback(run: str, request: FeedbackRequest) -> BaseModel:
        state, e = held(run), request.event
        with state.lock:
            if request.seq == state.seq + 1:
                state.model.feedback(
                    Interaction(user=e.user, item_id=e.item_id, kind=e.kind, t=e.t, rating=e.rating)
                )
                state.seq = request.seq
            elif request.seq > state.seq + 1:
                raise Refused(409, _error(f"event {request.seq} after {state.seq}: one is missing"))
            return FeedbackAnswer(seq=state.seq)

    def get_state(run: str) -> BaseModel:
        state = held(run)
        with state.lock:
            try:
                blob = statecodec.encode(
                    {
                        "model": state.model.get_state(),
                        "interactions": state.interactions.to_dict(as_series=False),
                        "seq": state.seq,
                    }
                )
            except statecodec.StateError as exc:  # the model keeps something that is not data
                raise Refused(501, _error(f"this target's state cannot be kept: {exc}")) from None
        return State(state=base64.b64encode(blob).decode("ascii"))

    def put_state(run: str, request: State) -> BaseModel:
        try:
            saved = statecodec.decode(base64.b64decode(request.state, validate=True))
            kept = saved["interactions"]
            rows = len(kept["user"])
            # A state an older service wrote has no counts: they were all unknown then.
            columns = {c: kept[c] if c != "count" else kept.get(c, [None] * rows)
                       for c in INTERACTIONS_SCHEMA}  # fmt: skip
            model = factory()
            model.set_state(saved["model"])
            restored = _Run(
                model, pl.DataFrame(columns, schema=INTERACTIONS_SCHEMA), int(saved["seq"])
            )
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
            run_route("/v1/runs/{run}/fit", "POST", fit, FitRequest, _error),
            run_route("/v1/runs/{run}/recommend", "POST", recommend, RecommendRequest, _error),
            run_route("/v1/runs/{run}/feedback", "POST", feedback, FeedbackRequest, _error),
            run_route("/v1/runs/{run}/state", "GET", get_state, None, _error),
            run_route("/v1/runs/{run}/state", "PUT", put_state, State, _error),
            run_route("/v1/runs/{run}", "DELETE", forget, None, _error),
        ]
    )


def _error(text: str) -> BaseModel:
    return ErrorAnswer(error=text)


__all__ = ["serve", "service_app"]
