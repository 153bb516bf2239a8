"""Anthology-style backstories: LLM-written first-person lives, checked against the persona.

The "Anthology" method conditions a model on a rich first-person backstory rather
than on a list of attributes. Here a persona's attributes are first reduced to a
few discrete, checkable facts (:class:`PersonaFacts`), a model writes a life story
from them (:func:`write_backstory`), and the same facts are then read back from
the story alone with structured output (:func:`extract_facts`). How often the
read-back facts differ from the ones the story was written from
(:func:`mismatch`, :func:`check_backstories`) says how much of the persona a
backstory actually carries.

The facts and their mismatch are in :mod:`personas.backstory_facts`, the prompts
in :mod:`personas.backstory_prompts`, the report in :mod:`personas.backstory_report`;
here are the calls to the model and the check that runs them for every persona.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Sequence
from itertools import combinations
from typing import Literal

from personas.backstory_facts import (
    ATTRIBUTES,
    MOVIELENS_SCALE,
    PersonaFacts,
    extraction_model,
    mismatch,
    persona_facts,
)
from personas.backstory_prompts import backstory_messages, extract_messages
from personas.backstory_report import BackstoryReport, BackstoryResult, Failure
from personas.datasets import FILM_WORDS, RatingScale, Words
from personas.schema import Persona
from personas.story_model import StoryModel, Tag

BACKSTORY_MAX_TOKENS = 180
EXTRACT_MAX_TOKENS = 96


def call_seed(seed: int, persona_id: str, purpose: str) -> int:
    """A per-persona, per-purpose seed for the model's sampler, derived from the root seed."""
    digest = hashlib.sha256(f"{seed}\0{persona_id}\0{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*(?=\s|$)")


def whole_sentences(text: str) -> str:
    """`text` stripped, and cut after its last full sentence if it stops mid-sentence."""
    text = text.strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] < len(text):
        return text[: ends[-1]]
    return text


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.cache_hits = 0

    def add(self, cache_hit: bool) -> None:
        self.calls += 1
        self.cache_hits += int(cache_hit)


async def _write(
    llm: StoryModel,
    persona: Persona,
    *,
    seed: int,
    genres: Sequence[str],
    scale: RatingScale,
    words: Words,
    max_tokens: int,
    counter: _Counter | None,
) -> str:
    reply = await llm.text(
        backstory_messages(persona, genres, scale=scale, words=words),
        tag=Tag("backstory", persona_id=persona.id),
        seed=call_seed(seed, persona.id, "backstory"),
        max_tokens=max_tokens,
    )
    if counter is not None:
        counter.add(reply.cache_hit)
    return whole_sentences(reply.text)


async def write_backstory(
    llm: StoryModel,
    persona: Persona,
    *,
    seed: int,
    genres: Sequence[str],
    scale: RatingScale = MOVIELENS_SCALE,
    words: Words = FILM_WORDS,
    max_tokens: int = BACKSTORY_MAX_TOKENS,
) -> str:
    """A first-person life story of `persona`, written by `llm` from its facts.

    Args:
        llm: The model.
        persona: Whose story.
        seed: The root seed; the call's seed is derived from it and the persona id.
        genres: The dataset's genre vocabulary.
        scale: The rating scale of the persona's ratings.
        words: What the domain calls an item and consuming one.
        max_tokens: The bound on the story's length, in tokens.

    Returns:
        The story, cut after its last full sentence.

    Raises:
        InvalidAnswer: The model answered with nothing, even after the repairs.
        TransportError: The model could not be reached.
    """
    return await _write(
        llm,
        persona,
        seed=seed,
        genres=genres,
        scale=scale,
        words=words,
        max_tokens=max_tokens,
        counter=None,
    )


async def _extract(
    llm: StoryModel,
    backstory: str,
    *,
    seed: int,
    genres: Sequence[str],
    words: Words,
    persona_id: str | None,
    counter: _Counter | None,
) -> PersonaFacts:
    answer = await llm.structured(
        extract_messages(backstory, genres, words),
        extraction_model(tuple(genres)),
        tag=Tag("backstory_check", persona_id=persona_id),
        seed=call_seed(seed, persona_id or "", "backstory_check"),
        max_tokens=EXTRACT_MAX_TOKENS,
    )
    if counter is not None:
        counter.add(answer.reply.cache_hit)
    return PersonaFacts.model_validate(answer.value.model_dump())


async def extract_facts(
    llm: StoryModel,
    backstory: str,
    *,
    seed: int,
    genres: Sequence[str],
    persona_id: str | None = None,
    words: Words = FILM_WORDS,
) -> PersonaFacts:
    """The facts `llm` reads back from `backstory` alone, as structured output.

    Args:
        llm: The model.
        backstory: The story.
        seed: The root seed; the call's seed is derived from it and `persona_id`.
        genres: The dataset's genre vocabulary: the only genre names the answer may use.
        persona_id: Whose story, for the call's tag and seed.
        words: What the domain calls an item and consuming one.

    Returns:
        The facts read back.

    Raises:
        InvalidAnswer: The model gave no valid answer within the allowed repairs.
    """
    return await _extract(
        llm,
        backstory,
        seed=seed,
        genres=genres,
        words=words,
        persona_id=persona_id,
        counter=None,
    )


async def _check_one(
    llm: StoryModel,
    persona: Persona,
    *,
    seed: int,
    genres: Sequence[str],
    scale: RatingScale,
    words: Words,
    max_tokens: int,
    counter: _Counter,
) -> BackstoryResult:
    expected = persona_facts(persona, genres, scale=scale)

    def failed(
        stage: Literal["write", "extract"], error: str, story: str | None
    ) -> BackstoryResult:
        failure = Failure(persona_id=persona.id, stage=stage, error=error)
        return BackstoryResult(
            persona_id=persona.id, backstory=story, expected=expected, failure=failure
        )

    try:
        story = await _write(
            llm,
            persona,
            seed=seed,
            genres=genres,
            scale=scale,
            words=words,
            max_tokens=max_tokens,
            counter=counter,
        )
    except llm.failure as exc:  # InvalidAnswer (empty after repairs) or TransportError
        return failed("write", _describe(exc), None)
    if not story:
        return failed("write", "empty backstory", story)
    try:
        found = await _extract(
            llm,
            story,
            seed=seed,
            genres=genres,
            words=words,
            persona_id=persona.id,
            counter=counter,
        )
    except llm.failure as exc:
        return failed("extract", _describe(exc), story)
    return BackstoryResult(
        persona_id=persona.id,
        backstory=story,
        expected=expected,
        found=found,
        mismatch=mismatch(expected, found),
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rates(rows: Sequence[dict[str, float]]) -> dict[str, float | None]:
    return {name: _mean([r[name] for r in rows]) for name in (*ATTRIBUTES, "overall")}


def _chance(results: Sequence[BackstoryResult]) -> dict[str, float | None]:
    pairs = [(r.expected, r.found) for r in results if r.found is not None]
    rows = []
    for (expected_a, found_a), (expected_b, found_b) in combinations(pairs, 2):
        rows.append(mismatch(expected_b, found_a))
        rows.append(mismatch(expected_a, found_b))
    return _rates(rows)


async def check_backstories(
    llm: StoryModel,
    personas: Sequence[Persona],
    *,
    seed: int,
    genres: Sequence[str],
    scale: RatingScale = MOVIELENS_SCALE,
    words: Words = FILM_WORDS,
    max_tokens: int = BACKSTORY_MAX_TOKENS,
) -> BackstoryReport:
    """Write each persona's backstory, read its facts back, and report the mismatch.

    All personas run concurrently (the LLM layer bounds requests in flight). A
    persona whose story cannot be written, comes back empty, or cannot be read
    back (:class:`InvalidAnswer` after the repairs, or a failed call) is a
    reported failure, never dropped. :class:`BudgetExhausted` propagates.

    Args:
        llm: The model.
        personas: Whose backstories.
        seed: The root seed.
        genres: The dataset's genre vocabulary.
        scale: The rating scale of the personas' ratings.
        words: What the domain calls an item and consuming one.
        max_tokens: The bound on each story's length, in tokens.

    Returns:
        The report, with every persona's story, facts and mismatch.
    """
    started = time.perf_counter()
    counter = _Counter()
    results = await asyncio.gather(
        *(
            _check_one(
                llm,
                p,
                seed=seed,
                genres=genres,
                scale=scale,
                words=words,
                max_tokens=max_tokens,
                counter=counter,
            )
            for p in personas
        )
    )
    checked = [r.mismatch for r in results if r.mismatch is not None]
    total = {name: 1.0 for name in (*ATTRIBUTES, "overall")}
    return BackstoryReport(
        n=len(results),
        checked=len(checked),
        failures=[r.failure for r in results if r.failure is not None],
        rates=_rates(checked),
        strict=_rates([r.mismatch or total for r in results]),
        chance=_chance(results),
        model=llm.identity,
        seed=seed,
        max_tokens=max_tokens,
        cache_hits=counter.cache_hits,
        calls=counter.calls,
        wall_seconds=time.perf_counter() - started,
        results=list(results),
    )
