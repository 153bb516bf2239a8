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

When the run's queries are the language model's (`brain="llm"`), the agent
waits on the broker for each query once the searcher has decided to type it
(`simulator.domains.search.writer`): a query event with `tokens` is the
model's; an `llm_failure` event before one says the fitted draft was kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from personas.datasets.trec import Result
from simulator.core.agent import ClockAgent
from simulator.core.protocols import Failure
from simulator.core.rng import Streams
from simulator.core.statecodec import state_type
from simulator.domains.search.interfaces import SearchClick, SearchContext, SearchError
from simulator.domains.search.model import PAGE, reformulation
from simulator.domains.search.population import Searcher
from simulator.domains.search.searcher import (
    Next,
    SearcherState,
    begin,
    checked_page,
    on_page,
)
from simulator.domains.search.writer import SHOWN_QUERIES, Tried, WrittenQuery, write_query
from simulator.trace.schema import EventKind

if TYPE_CHECKING:
    from simulator.domains.search.world import SearchWorld

PURPOSES = ("search",)

Phase = Literal["idle", "compose", "query", "click", "final", "leaving", "done"]


@state_type
@dataclass
class SearchState:
    """Where the session stands, as plain data."""

    phase: Phase = "idle"
    next_at: float = 0.0
    outcome: WrittenQuery | Failure | None = None  # the broker's answer, not yet used
    asked_at: float = 0.0  # when the searcher began to word the next query
    searcher: SearcherState | None = None
    page: int = 0  # the index of the query being read (its number − 1)
    query: str = ""  # its text
    shown: list[tuple[str, int]] = field(default_factory=list)  # the page: (doc_id, rank)
    pending: list[tuple[float, float, int]] = field(default_factory=list)  # clicks to come
    then: Next = "stop"  # what comes after the pending clicks
    then_at: float = 0.0
    tokens: int | None = None  # the model's tokens for the query being typed, if it wrote it
    tried: list[Tried] = field(default_factory=list)  # queries and their titles, for the model


class SearchAgent(ClockAgent):
    """One persona, one session, against the engine under test."""

    world: SearchWorld

    def __init__(self, world: SearchWorld, searcher: Searcher, streams: Streams, start: float):
        super().__init__(world, searcher.persona_id, streams, PURPOSES)
        self.world = world
        self.searcher = searcher
        self.streams = streams
        self.state = SearchState(next_at=start)

    @property
    def finished(self) -> bool:
        """The session has ended."""
        return self.state.phase == "done"

    @property
    def waiting(self) -> bool:
        """The model is wording the next query (the engine answers in the step that asks)."""
        return self.state.phase == "compose"

    def ask(self) -> tuple[float, Callable[[], Awaitable[Any]]]:
        """The next query, in the language model's words."""
        s, searcher, llm = self.state, self.searcher, self.world.llm
        tried, t = list(s.tried), s.asked_at
        number = s.searcher.number if s.searcher is not None else 1
        seed = self.streams.integer_seed(self.persona_id, f"search:query:{number}")
        return t, lambda: write_query(llm, self.persona_id, searcher.need, tried, seed=seed, t=t)

    def answered(self) -> None:
        """Type the model's query; when it gave none, the fitted draft."""
        s, searcher = self.state, self.state.searcher
        assert searcher is not None
        outcome, s.outcome = s.outcome, None
        if isinstance(outcome, Failure):
            self.world.counters["llm_failures"] += 1
            self.emit(EventKind.LLM_FAILURE, s.asked_at, page=searcher.number - 1,
                      reason=outcome.reason, text=outcome.detail[:500])  # fmt: skip
            s.tokens = None
        else:
            assert isinstance(outcome, WrittenQuery)
            searcher.query = list(outcome.terms)
            if searcher.number > 1:
                searcher.kind = reformulation(s.query.split(), searcher.query)
            s.tokens = outcome.tokens
        s.phase, s.next_at = ("final" if s.then == "final" else "query"), s.then_at

    def step(self) -> None:
        """Take the step due at `state.next_at`."""
        s, rng = self.state, self.rngs["search"]
        if s.phase == "idle":
            self.emit(EventKind.SESSION_START, s.next_at, text=self.searcher.need,
                      reason=self.searcher.topic)  # fmt: skip
            self.world.counters["sessions"] += 1
            s.searcher, delay = begin(self.world.model, self.searcher.need, rng)
            s.then, s.then_at = "query", s.next_at + delay
            self._to_query(s.next_at)
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
        self.emit(EventKind.QUERY, t, page=s.page, text=s.query, reason=searcher.kind,
                  tokens=s.tokens)  # fmt: skip
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
        if self.world.llm is not None:  # what the model is reminded of for the next query
            opened = {c.rank for c in outcome.clicks}
            s.tried.append(Tried(s.query, tuple((r.title, r.rank in opened) for r in page)))
            del s.tried[:-SHOWN_QUERIES]  # the prompt recalls no more
        s.then = outcome.next
        s.then_at = outcome.next_at if outcome.next != "stop" else outcome.done_at
        self._after_page(t)

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
        self._after_page(end)

    def _after_page(self, now: float) -> None:
        """The next pending click, else what the searcher does next, at its time."""
        s = self.state
        if s.pending:
            s.phase, s.next_at = "click", s.pending[0][0]
            return
        if s.then == "stop":
            s.phase, s.next_at = "leaving", s.then_at
        else:
            self._to_query(now)

    def _to_query(self, now: float) -> None:
        """Type the next query at `then_at`; the model words it first, when it writes them."""
        s = self.state
        if self.world.llm is None:
            s.phase, s.next_at = ("final" if s.then == "final" else "query"), s.then_at
        else:
            s.phase, s.asked_at = "compose", now

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
        return replace(s, searcher=searcher, shown=list(s.shown), pending=list(s.pending),
                       tried=list(s.tried))  # fmt: skip
