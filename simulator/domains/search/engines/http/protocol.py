"""The wire protocol `simfolk-search/1`: a search engine as an HTTP service.

JSON over HTTP, one run at a time per `{run}` id the client makes up:

| request | body | answer |
|---|---|---|
| `GET /v1/info` | | `Info` (protocol, name, version) |
| `POST /v1/runs/{run}/search` | `SearchRequest` (query, k, context) | `SearchAnswer` (results) |
| `POST /v1/runs/{run}/feedback` | `FeedbackRequest` (seq, click) | `FeedbackAnswer` (seq) |
| `GET /v1/runs/{run}/state` | | `State` (opaque text) |
| `PUT /v1/runs/{run}/state` | `State` | `Ack` |
| `DELETE /v1/runs/{run}` | | `Ack` |

Clicks are numbered from 1 within a run; the service applies each number once
(a retried one is acknowledged again, not applied twice) and refuses a gap
with 409. Errors come as `ErrorAnswer` with a 4xx or 5xx status.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from simulator.core.service_protocol import Message

PROTOCOL: Final = "simfolk-search/1"


class Info(Message):
    """What the service is."""

    protocol: Literal["simfolk-search/1"]
    name: str = Field(min_length=1, max_length=200, description="the trace's `target` column")
    version: str = Field(max_length=200)


class Context(Message):
    """Who asks: the persona, its session, the query's number in it, the simulated time."""

    user: str = Field(max_length=500)
    t: float
    session: int = Field(ge=0)
    query_number: int = Field(ge=1)


class SearchRequest(Message):
    """One query."""

    query: str = Field(max_length=20_000)
    k: int = Field(ge=1, le=1000)
    context: Context


class Hit(Message):
    """One result as the page shows it."""

    doc_id: str = Field(min_length=1, max_length=2_000)
    title: str = Field(max_length=20_000)
    snippet: str = Field(max_length=20_000)
    url: str = Field(default="", max_length=20_000)


class SearchAnswer(Message):
    """The page, best first (the client checks: at most k, no document twice)."""

    results: list[Hit] = Field(max_length=1000)


class Click(Message):
    """A click on a result."""

    user: str = Field(max_length=500)
    query: str = Field(max_length=20_000)
    doc_id: str = Field(min_length=1, max_length=2_000)
    rank: int = Field(ge=1)
    t: float


class FeedbackRequest(Message):
    """One click, numbered from 1 within the run."""

    seq: int = Field(ge=1)
    click: Click


class FeedbackAnswer(Message):
    """The last click number the service has applied."""

    seq: int = Field(ge=0)
