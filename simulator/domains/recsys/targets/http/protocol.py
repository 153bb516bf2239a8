"""The recommender protocol, version 1: a system under test as a JSON-over-HTTP service.

Every path is under the service's base URL (`http://HOST:PORT[/prefix]`);
bodies are JSON; `{run}` is an id the client picks, one per simulation run, so
one service can serve several runs (the arms of an A/B test) at once.

| method | path | body | answer |
|---|---|---|---|
| GET | /v1/info | | `Info` |
| POST | /v1/runs/{run}/fit | `FitRequest` | `FitAnswer` (409 `Conflict`) |
| POST | /v1/runs/{run}/recommend | `RecommendRequest` | `RecommendAnswer` |
| POST | /v1/runs/{run}/feedback | `FeedbackRequest` | `FeedbackAnswer` |
| GET | /v1/runs/{run}/state | | `State` (501: not kept) |
| PUT | /v1/runs/{run}/state | `State` | `Ack` |
| DELETE | /v1/runs/{run} | | `Ack` |

- **fit** appends `interactions` to the `base` rows the service holds for the run
  and retrains on all of them; `base` 0 starts the run anew. A `base` other than
  what it holds (or a run it does not know) gets 409 with the count it has; the
  client then sends everything with `base` 0. So a refit sends only what is new,
  a retried fit cannot apply twice, and a service that restarted is refilled.
- **feedback** carries a `seq` that grows by one per event; an event whose seq
  the service has applied already is acknowledged and ignored, so retries are
  safe; the client sends an event that was not acknowledged again, before the
  next one (and keeps it in its checkpoint), so a lost one is never skipped.
- **state** is opaque to the client: whatever lets the service continue the run
  exactly (it goes into the simulator's checkpoint and comes back on resume).
- Errors are `{"error": "..."}` with a 4xx or 5xx status. The client retries
  5xx, 429 and transport failures a bounded number of times with backoff.

The models below are the contract; `openapi()` writes them as an OpenAPI 3.1
document, checked in as `recommender-v1.openapi.json`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from simulator.core.service_protocol import Ack, ErrorAnswer, Message, State

PROTOCOL: Final = "simfolk-recommender/1"
SCHEMA_FILE = "recommender-v1.openapi.json"

_MAX_K = 10_000  # far above any page; a bound so a request cannot ask for the catalogue twice


class Info(Message):
    """What the service is."""

    protocol: Literal["simfolk-recommender/1"]
    name: str = Field(min_length=1, max_length=200, description="the trace's `target` column")
    version: str = Field(max_length=200)


class Row(Message):
    """One training interaction: a user rated (or consumed) an item at a time."""

    user: str = Field(max_length=200)
    item_id: int
    rating: float | None = Field(description="null for a consumption without a rating")
    t: float = Field(description="seconds since the epoch (train) or since the run began")
    # Sent only when known, so a rated run's requests are what every v1 service has read.
    count: int | None = Field(
        default=None,
        ge=1,
        exclude_if=lambda count: count is None,
        description="implicit feedback: how many times (plays); absent with ratings",
    )


class FitRequest(Message):
    """Append `interactions` to the `base` rows held for the run, then retrain on all."""

    base: int = Field(ge=0)
    interactions: list[Row]


class FitAnswer(Message):
    """How many interactions the service now holds for the run."""

    interactions: int = Field(ge=0)


class Conflict(Message):
    """A fit whose `base` is not what the service holds (it has `have`)."""

    error: str
    have: int = Field(ge=0)


class Context(Message):
    """What the page request knows besides the user."""

    t: float = Field(description="simulated seconds since the run began")
    session: int = Field(ge=0)
    page: int = Field(ge=0)
    exclude: list[int] = Field(description="items already shown in this session")


class RecommendRequest(Message):
    """A page for a user."""

    user: str = Field(max_length=200)
    k: int = Field(ge=0, le=_MAX_K)
    context: Context


class RecommendAnswer(Message):
    """Up to k distinct catalogue item ids, best first, none excluded or consumed."""

    items: list[int] = Field(max_length=_MAX_K)


class Event(Message):
    """One thing a persona did with an item."""

    user: str = Field(max_length=200)
    item_id: int
    kind: Literal["click", "rate"]
    t: float
    rating: float | None = None


class FeedbackRequest(Message):
    """An event, numbered: the service applies each seq once."""

    seq: int = Field(ge=1)
    event: Event


class FeedbackAnswer(Message):
    """The highest seq the service has applied for the run."""

    seq: int = Field(ge=0)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answers(ok: type[BaseModel], **more: type[BaseModel]) -> dict[str, Any]:
    answers = {"200": {"description": "done", **_body(ok)}}
    answers |= {
        code: {"description": model.__doc__ or "", **_body(model)} for code, model in more.items()
    }
    answers["default"] = {"description": "an error", **_body(ErrorAnswer)}
    return answers


_RUN = {"name": "run", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi() -> dict[str, Any]:
    """The protocol as an OpenAPI 3.1 document (what `recommender-v1.openapi.json` holds)."""
    models = (
        Info, Row, FitRequest, FitAnswer, Conflict, Context, RecommendRequest,
        RecommendAnswer, Event, FeedbackRequest, FeedbackAnswer, State, Ack, ErrorAnswer,
    )  # fmt: skip
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema

    def post(summary: str, request: type[BaseModel], ok: type[BaseModel], **more: Any) -> Any:
        return {
            "summary": summary,
            "parameters": [_RUN],
            "requestBody": {"required": True, **_body(request)},
            "responses": _answers(ok, **more),
        }

    return {
        "openapi": "3.1.0",
        "info": {"title": "simfolk recommender protocol", "version": PROTOCOL},
        "paths": {
            "/v1/info": {"get": {"summary": "what the service is", "responses": _answers(Info)}},
            "/v1/runs/{run}/fit": {
                "post": post(
                    "append interactions, retrain", FitRequest, FitAnswer, **{"409": Conflict}
                )
            },
            "/v1/runs/{run}/recommend": {
                "post": post("a page for a user", RecommendRequest, RecommendAnswer)
            },
            "/v1/runs/{run}/feedback": {
                "post": post("hear one click or rating", FeedbackRequest, FeedbackAnswer)
            },
            "/v1/runs/{run}/state": {
                "get": {
                    "summary": "the run's state, to checkpoint",
                    "parameters": [_RUN],
                    "responses": _answers(State, **{"501": ErrorAnswer}),
                },
                "put": post("continue from a state", State, Ack),
            },
            "/v1/runs/{run}": {
                "delete": {
                    "summary": "forget the run",
                    "parameters": [_RUN],
                    "responses": _answers(Ack),
                }
            },
        },
        "components": {"schemas": schemas},
    }
