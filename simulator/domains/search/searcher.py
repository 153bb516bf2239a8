"""One searcher's session, page by page: what the fitted model decides at each page it is shown.

A session is a chain of pages. `begin` formulates the first query and draws
when it is typed; `on_page` takes the page the engine answered and decides,
in one go and in a fixed order of draws, which results are clicked and when,
how long each is read, whether the searcher stops, and if not the next query
and when it comes. Between two pages everything is in `SearcherState`, plain
data, so a run on the clock (`simulator.domains.search.agent`) can checkpoint
anywhere; `simulate_session` runs the same chain off the clock, for the bench.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from personas.datasets.trec import Click, Query, Result, SearchSession, terms
from simulator.core.statecodec import state_type
from simulator.domains.search.interfaces import (
    SearchClick,
    SearchContext,
    SearchEngine,
    SearchError,
    SearchResult,
)
from simulator.domains.search.model import (
    MAX_QUERIES,
    PAGE,
    SearcherModel,
    click_features,
    final_features,
    formulate,
    need_counts,
    reformulate,
    reformulation,
    stop_features,
)

Next = Literal["stop", "query", "final"]


@state_type
@dataclass
class SearcherState:
    """The searcher between two pages."""

    need: dict[str, int]  # the need's content terms and how often it says each
    query: list[str]  # the query to issue next
    number: int = 1  # its number in the session, 1 for the first
    kind: str = "first"  # how it came from the one before: a REFORMULATIONS kind
    seen: list[str] = field(default_factory=list)  # title and snippet terms, first seen first


@dataclass(frozen=True)
class PageOutcome:
    """What the searcher does with one page."""

    clicks: tuple[Click, ...]  # in the order they happen, times as the session's clock
    done_at: float  # when it is done with the page (the last click's end, or the page's time)
    next: Next  # stop here; issue `state.query`; or type it as the logged last query and go
    next_at: float  # when the next query is typed (for "query" and "final")


def need_of(text: str) -> dict[str, int]:
    """The need's terms a searcher draws from: its content terms, else all its terms."""
    return need_counts(text) or dict.fromkeys(terms(text), 1)


def begin(
    model: SearcherModel, need_text: str, rng: np.random.Generator
) -> tuple[SearcherState, float]:
    """The first query from the need, and the seconds before it is typed."""
    need = need_of(need_text)
    query = formulate(model, need, rng)
    return SearcherState(need=need, query=query), model.first_query.draw(rng)


def checked_page(answer: Any, k: int) -> list[Result]:
    """The engine's answer as a page of ranked results; SearchError says what is wrong with it."""
    if not isinstance(answer, list | tuple):
        raise SearchError(f"search returned a {type(answer).__name__}, not a list of SearchResult")
    if len(answer) > k:
        raise SearchError(f"search returned {len(answer)} results; the page asked for at most {k}")
    page, ids = [], set()
    for rank, result in enumerate(answer, start=1):
        if not isinstance(result, SearchResult):
            raise SearchError(f"result {rank} is a {type(result).__name__}, not a SearchResult")
        for name in ("doc_id", "title", "snippet", "url"):
            if not isinstance(getattr(result, name), str):
                raise SearchError(f"result {rank}: {name} is not text")
        if not result.doc_id:
            raise SearchError(f"result {rank}: empty doc_id")
        if result.doc_id in ids:
            raise SearchError(f"result {rank}: document {result.doc_id!r} is on the page twice")
        ids.add(result.doc_id)
        page.append(Result(rank, result.doc_id, result.url, result.title, result.snippet))
    return page


def on_page(
    model: SearcherModel,
    state: SearcherState,
    results: Sequence[Result],
    shown_at: float,
    rng: np.random.Generator,
) -> PageOutcome:
    """Clicks on the page shown at `shown_at`, then stop or the next query (`state` moves on)."""
    clicks: list[Click] = []
    at = shown_at
    if results:
        need = set(state.need)
        x = np.array([click_features(state.query, need, r, r.rank) for r in results])
        known = set(state.seen)
        effect = float(rng.standard_normal())  # the page's own: its clicks move together
        for result, p in zip(results, model.click.p(x, effect), strict=True):
            for term in terms(f"{result.title} {result.snippet}"):
                if term not in known:
                    known.add(term)
                    state.seen.append(term)
            if rng.random() < p:
                begin_at = at + (model.to_click if clicks else model.to_first_click).draw(rng)
                dwell = model.dwell.draw(rng)
                clicks.append(Click(rank=result.rank, start=begin_at, end=begin_at + dwell))
                at = begin_at + dwell
    stop = model.stop.p(np.array([stop_features(state.number, len(clicks))]))[0]
    if rng.random() < stop:
        return PageOutcome(tuple(clicks), at, "stop", at)
    next_at = at + model.to_query.draw(rng)
    query = reformulate(model, state.query, state.need, list(state.seen), rng)
    final = rng.random() < model.final.p(np.array([final_features(state.number + 1)]))[0]
    state.kind, state.query, state.number = (
        reformulation(state.query, query),
        query,
        state.number + 1,
    )
    if final:
        return PageOutcome(tuple(clicks), at, "final", next_at)
    if state.number > MAX_QUERIES:  # a cap on runaway sessions: it ends with this page
        return PageOutcome(tuple(clicks), at, "stop", at)
    return PageOutcome(tuple(clicks), at, "query", next_at)


def simulate_session(
    model: SearcherModel,
    session_id: str,
    topic: str,
    need_text: str,
    engine: SearchEngine,
    rng: np.random.Generator,
    user: str = "",
) -> SearchSession:
    """One simulated session on `need_text` against `engine`, off the clock, as a TREC record."""
    state, clock = begin(model, need_text, rng)
    queries: list[Query] = []
    final: str | None = None
    while True:
        text = " ".join(state.query)
        context = SearchContext(user or session_id, clock, 0, state.number)
        results = checked_page(engine.search(text, PAGE, context), PAGE)
        number = state.number
        outcome = on_page(model, state, results, clock, rng)
        for click in outcome.clicks:
            doc = results[click.rank - 1].doc_id
            engine.feedback(SearchClick(context.user, text, doc, click.rank, click.start))
        queries.append(Query(number, text, clock, tuple(results), outcome.clicks))
        clock = outcome.next_at
        if outcome.next == "final":
            final = " ".join(state.query)  # logged as TREC logs its current query: text only
        if outcome.next != "query":
            break
    return SearchSession(
        id=session_id,
        topic=topic,
        need=need_text,
        queries=tuple(queries),
        final_query=final,
        final_start=clock if final is not None else None,
    )
