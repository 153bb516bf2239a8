"""What a search engine under test must offer, and what it hears."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from simulator.core.protocols import Stateful
from simulator.core.statecodec import state_type


@state_type
@dataclass(frozen=True)
class SearchResult:
    """One result of a page: the document and what the page shows of it."""

    doc_id: str
    title: str
    snippet: str
    url: str = ""


@state_type
@dataclass(frozen=True)
class SearchContext:
    """Who asks, and where they are: the persona, its session and the query's number in it."""

    user: str
    t: float  # simulated seconds since the run began
    session: int
    query_number: int  # 1 for the session's first query


@state_type
@dataclass(frozen=True)
class SearchClick:
    """A click on a result, as the engine hears of it."""

    user: str
    query: str
    doc_id: str
    rank: int  # 1 = top
    t: float


class SearchError(ValueError):
    """The engine failed a query or answered what a page cannot show.

    The persona's session ends with a `target_error` event; the run goes on.
    """

    def __init__(self, detail: str, reason: str = "bad_answer") -> None:
        super().__init__(detail)
        self.reason = reason


@runtime_checkable
class SearchEngine(Stateful, Protocol):
    """A search engine under test."""

    name: str

    def search(self, query: str, k: int, context: SearchContext) -> list[SearchResult]:
        """Up to k results, best first (no document twice)."""
        ...

    def feedback(self, click: SearchClick) -> None:
        """Hear about one click; called for every click."""
        ...
