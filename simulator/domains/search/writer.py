"""The searcher's queries in words: the language model writes each one, when a run asks for it.

The fitted model still decides everything else (examination, clicks, dwell,
stopping) and still drafts every query from the same draws: the model's query
replaces the draft, and an answer it could not give keeps the draft (the trace
says so with an `llm_failure` event). What follows the query (the page, its
clicks, the next draft) depends on the query typed, so the two brains' sessions
part there. The engine's titles reach the model only as template variables
inside a user message, on one line each — data, never part of the instructions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from personas.datasets.trec import terms
from simulator.core.protocols import Failure
from simulator.core.statecodec import state_type
from simulator.domains.search.model import content_terms, is_content
from simulator.llm import LLM, CallTag, LLMFailure
from simulator.prompts import render

MAX_CHARS = 64  # 99th percentile of TREC 2013 queries (the longest has 127)
SHOWN_QUERIES = 3  # the last queries the prompt recalls, with their titles
TITLE_CHARS = 80


class Written(BaseModel):
    """The model's answer: one query."""

    model_config = ConfigDict(extra="forbid")

    # The box's length, as the schema tells a constrained decoder; not a count of words,
    # so a model that types long queries shows it in the compare table.
    query: str = Field(min_length=1, max_length=MAX_CHARS)

    @field_validator("query")
    @classmethod
    def _a_query(cls, text: str) -> str:
        if not terms(text):
            raise ValueError("the query has no words; write the words you would type")
        return text


def pairs(text: str) -> set[tuple[str, str]]:
    """Every two terms in a row within a line of `text`, one of them a content word."""
    found: set[tuple[str, str]] = set()
    for line in text.splitlines():
        found.update(p for p in pairwise(terms(line)) if is_content(p[0]) or is_content(p[1]))
    return found


def one_line(text: str) -> str:
    """`text` with every run of whitespace, newlines too, as one space."""
    return " ".join(text.split())


def grounded(allowed: frozenset[str], prompt: frozenset[tuple[str, str]]) -> type[Written]:
    """`Written`, checked to be about the need and not to echo the prompt.

    It must share a content word with the need or the titles shown — 97 % of
    TREC 2013's queries do (388 of 401, counting snippets) — and hold no two
    words in a row of the prompt's own wording ("you searched ..."). A small
    model that answers with filler or with the prompt is asked again.
    """

    class Grounded(Written):
        model_config = ConfigDict(title="Written")

        @model_validator(mode="after")
        def _from_the_need(self) -> Any:
            if not set(terms(self.query)) & allowed:
                raise ValueError(
                    "the query has none of the words of what you want to find out or of the "
                    "titles shown; search with some of them"
                )
            if pairs(self.query) & prompt:
                raise ValueError("the query repeats the instructions; type only your key words")
            return self

    Grounded.__name__ = Grounded.__qualname__ = "Written"
    return Grounded


@state_type
@dataclass(frozen=True)
class WrittenQuery:
    """A query the model wrote, as the searcher's terms, and what it cost."""

    terms: tuple[str, ...]
    tokens: int  # completion tokens


@state_type
@dataclass(frozen=True)
class Tried:
    """One query of the session as the prompt recalls it: its text and what it showed."""

    text: str
    titles: tuple[tuple[str, bool], ...]  # (title, opened), in rank order


def messages(need: str, tried: Sequence[Tried]) -> list[dict[str, str]]:
    """The instructions with the need, then the queries so far and what they showed."""
    recent = [
        {"text": one_line(q.text), "titles": [(one_line(t)[:TITLE_CHARS], r) for t, r in q.titles]}
        for q in tried[-SHOWN_QUERIES:]
    ]
    return [
        {"role": "system", "content": render("search_user_system")},
        {"role": "user", "content": render("search_user_query", need=need, tried=recent)},
    ]


async def write_query(
    llm: LLM, persona_id: str, need: str, tried: Sequence[Tried], *, seed: int, t: float
) -> WrittenQuery | Failure:
    """The next query in the model's words, or why it could not give one."""
    tried = tried[-SHOWN_QUERIES:]  # what the prompt recalls
    asked = messages(need, tried)
    # The searcher's own words (the need, its queries, the titles shown) are free to use.
    shown = [one_line(t) for q in tried for t, _ in q.titles]
    own = "\n".join([one_line(need), *(one_line(q.text) for q in tried), *shown])
    wording = pairs("\n".join(m["content"] for m in asked)) - pairs(own)
    schema = grounded(frozenset(content_terms(own)), frozenset(wording))
    try:
        answer = await llm.structured(
            asked, schema, tag=CallTag("search_query", persona_id, t), seed=seed
        )
    except LLMFailure as failure:
        return Failure(failure.reason, failure.detail)
    value: Any = answer.value
    return WrittenQuery(terms=tuple(terms(value.query)), tokens=answer.reply.completion_tokens)
