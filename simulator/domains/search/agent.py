"""SearchAgent: a persona living one search session against the engine, on the clock.

The decisions are the fitted searcher's (`simulator.domains.search.searcher`);
this agent puts them on the simulated clock and into the trace. At a query's
time it asks the engine, writes the query and every result shown, and lets
the searcher decide the page; each click is then written, and heard by the
engine, at its own time, so an engine that learns hears other people's clicks
in the order they happen. Between steps the state is plain data.

Trace, per session: `session_start` (text: the need; reason: its topic);
per query `query` (page: its index; text; reason: first, add, drop, replace,
repeat or new), an `impression` per result (position, doc_id, title, url;
text: the snippet) and a `click` per click (position, doc_id, dwell);
`session_end` (reason: `done`; `final_query` when the session ends by typing a
query whose results were not logged, as TREC logged its last one; or
`target_error`, after a `target_error` event saying what the engine did).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from personas.datasets.trec import Result
from simulator.core.agent import ClockAgent
from simulator.core.rng import Streams
from simulator.core.statecodec import state_type
from simulator.domains.search.interfaces import SearchClick, SearchContext, SearchError
from simulator.domains.search.model import PAGE
from simulator.domains.search.population import Searcher
from simulator.domains.search.searcher import (
    Next,
    SearcherState,
    begin,
    checked_page,
    on_page,
)
from simulator.trace.schema import EventKind

if TYPE_CHECKING:
    from simulator.domains.search.world import SearchWorld

PURPOSES = ("search",)

Phase = Literal["idle", "query", "click", "final", "leaving", "done"]


@state_type
@dataclass
class SearchState:
    """Where the session stands, as plain data."""

    phase: Phase = "idle"
    next_at: float = 0.0
    outcome: None = None  # a search session asks nothing of the broker
    searcher: SearcherState | None = None
    page: int = 0  # the index of the query being read (its number − 1)
    query: str = ""  # its text
    shown: list[tuple[str, int]] = field(default_factory=list)  # the page: (doc_id, rank)
    pending: list[tuple[float, float, int]] = field(default_factory=list)  # clicks to come
    then: Next = "stop"  # what comes after the pending clicks
    then_at: float = 0.0


class SearchAgent(ClockAgent):
    """One persona, one session, against the engine under test."""

    world: SearchWorld

    def __init__(self, world: SearchWorld, searcher: Searcher, streams: Streams, start: float):
        super().__init__(world, searcher.persona_id, streams, PURPOSES)
        self.world = world
        self.searcher = searcher
        self.state = SearchState(next_at=start)

    @property
    def finished(self) -> bool:
        """The session has ended."""
        return self.state.phase == "done"

    @property
    def waiting(self) -> bool:
        """Never: the engine answers in the step that asks it."""
        return False

    def step(self) -> None:
        """Take the step due at `state.next_at`."""
        s, rng = self.state, self.rngs["search"]
        if s.phase == "idle":
            self.emit(EventKind.SESSION_START, s.next_at, text=self.searcher.need,
                      reason=self.searcher.topic)  # fmt: skip
            self.world.counters["sessions"] += 1
            s.searcher, delay = begin(self.world.model, self.searcher.need, rng)
            s.phase, s.next_at = "query", s.next_at + delay
        elif s.phase == "query":
            self._query(s.next_at)
        elif s.phase == "click":
            self._click()
        elif s.phase == "final":
            self._say_query(s.next_at)
            self.end("final_query", s.next_at)
        elif s.phase == "leaving":
            self.end("done", s.next_at)

    def _say_query(self, t: float) -> SearcherState:
        s = self.state
        searcher = s.searcher
        assert searcher is not None
        s.page, s.query = searcher.number - 1, " ".join(searcher.query)
        self.emit(EventKind.QUERY, t, page=s.page, text=s.query, reason=searcher.kind)
        self.world.counters["queries"] += 1
        return searcher

    def _query(self, t: float) -> None:
        s = self.state
        searcher = self._say_query(t)
        context = SearchContext(self.persona_id, t, 0, searcher.number)
        try:
            page = checked_page(self.world.engine.search(s.query, PAGE, context), PAGE)
        except SearchError as error:
            self.emit(EventKind.TARGET_ERROR, t, page=s.page, reason=error.reason,
                      text=str(error)[:500])  # fmt: skip
            self.end("target_error", t)
            return
        for result in page:
            self._impression(t, result)
        s.shown = [(r.doc_id, r.rank) for r in page]
        outcome = on_page(self.world.model, searcher, page, t, self.rngs["search"])
        s.pending = [(c.start, c.end or c.start, c.rank) for c in outcome.clicks]
        s.then = outcome.next
        s.then_at = outcome.next_at if outcome.next != "stop" else outcome.done_at
        self._after_page()

    def _impression(self, t: float, result: Result) -> None:
        self.emit(EventKind.IMPRESSION, t, page=self.state.page, position=result.rank - 1,
                  doc_id=result.doc_id, title=result.title, url=result.url,
                  text=result.snippet)  # fmt: skip

    def _click(self) -> None:
        s = self.state
        start, end, rank = s.pending.pop(0)
        doc = s.shown[rank - 1][0]
        self.emit(EventKind.CLICK, start, page=s.page, position=rank - 1, doc_id=doc,
                  dwell=end - start)  # fmt: skip
        self.world.counters["clicks"] += 1
        try:
            self.world.engine.feedback(SearchClick(self.persona_id, s.query, doc, rank, start))
        except SearchError as error:  # a service that cannot hear it: this session ends
            self.emit(EventKind.TARGET_ERROR, start, page=s.page, reason=error.reason,
                      text=str(error)[:500])  # fmt: skip
            self.end("target_error", start)
            return
        self._after_page()

    def _after_page(self) -> None:
        """The next pending click, else what the searcher does next, at its time."""
        s = self.state
        if s.pending:
            s.phase, s.next_at = "click", s.pending[0][0]
            return
        s.phase = {"stop": "leaving", "query": "query", "final": "final"}[s.then]
        s.next_at = s.then_at

    def trace_fields(self) -> dict[str, Any]:
        """Every event carries its session and the engine it is held with."""
        return {"session": 0, "target": self.world.engine.name}

    def end(self, reason: str, t: float) -> None:
        """Close the session with a reason."""
        self.emit(EventKind.SESSION_END, t, reason=reason)
        self.world.counters["ended"] += 1
        self.state = replace(self.state, phase="done", pending=[], shown=[])

    def halt(self, t: float, reason: str) -> None:
        """End an open session: the run stops here."""
        if self.state.phase not in ("idle", "done"):
            self.end(reason, t)

    @property
    def open(self) -> bool:
        """Inside a session (started, not ended)."""
        return self.state.phase not in ("idle", "done")

    def snapshot(self) -> SearchState:
        """The session, its lists and the searcher's copied."""
        s = self.state
        searcher = s.searcher
        if searcher is not None:
            searcher = replace(searcher, need=dict(searcher.need), query=list(searcher.query),
                               seen=list(searcher.seen))  # fmt: skip
        return replace(s, searcher=searcher, shown=list(s.shown), pending=list(s.pending))
