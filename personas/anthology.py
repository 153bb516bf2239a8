"""Anthology-style backstories: LLM-written first-person lives, checked against the persona.

The "Anthology" method conditions a model on a rich first-person backstory rather
than on a list of attributes. Here a persona's attributes are first reduced to a
few discrete, checkable facts (:class:`PersonaFacts`), a model writes a life story
from them (:func:`write_backstory`), and the same facts are then read back from
the story alone with structured output (:func:`extract_facts`). How often the
read-back facts differ from the ones the story was written from
(:func:`mismatch`, :func:`check_backstories`) says how much of the persona a
backstory actually carries.

Fact definitions (fixed thresholds, so that a persona's facts never depend on
which other personas are in the batch; the thresholds sit at the rounded terciles
(activity, rating style) or median (openness) of ml-latest-small's 610 users, so
each class holds about a third (a half) of them):

* ``top_genres``: the three genres with the highest ``taste.genre_affinity``
  (ties by name), among the dataset's genres. A set: stored sorted.
* ``activity``: expected items a day, ``sessions_per_day * items_per_session``:
  below 20 "occasional", below 50 "regular", else "heavy".
* ``rating_style``: where the rating mean sits on the scale,
  ``(mean - low) / (high - low)``: below 0.65 "harsh", 0.75 or more "generous",
  else "balanced" (on 0.5-5: harsh below 3.425, generous from 3.875). The
  spread is left out: it says how varied the ratings are, not how kind.
* ``openness``: ``traits.diversity`` (normalised genre entropy) 0.8 or more
  "broad", else "narrow".
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Sequence
from functools import cache
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from personas.datasets import RatingScale
from personas.schema import Persona
from personas.story_model import StoryModel, Tag
from personas.templates import Templates

PROMPTS = Templates("personas", "prompts")
render = PROMPTS.render


Activity = Literal["occasional", "regular", "heavy"]
RatingStyleName = Literal["generous", "balanced", "harsh"]
Openness = Literal["narrow", "broad"]

ATTRIBUTES = ("top_genres", "activity", "rating_style", "openness")
MOVIELENS_SCALE = RatingScale(low=0.5, high=5.0, step=0.5)
BACKSTORY_MAX_TOKENS = 180
EXTRACT_MAX_TOKENS = 96

_ITEMS_PER_DAY = (20.0, 50.0)  # occasional < 20 <= regular < 50 <= heavy
_SCALE_POSITION = (0.65, 0.75)  # harsh < 0.65 <= balanced < 0.75 <= generous
_BROAD_FROM = 0.8  # diversity
_CONFORMIST_FROM = 0.6  # as the template backstory
_N_TOP = 3
_N_DISLIKED = 2
_WRITE_TEMPLATES = ("backstory_system", "backstory_user")

_GLOSS: dict[str, str] = {
    "occasional": "I am an occasional viewer: I watch movies only now and then",
    "regular": "I am a regular viewer: I watch movies most weeks",
    "heavy": "I am a heavy viewer: I watch a huge number of movies",
    "generous": "I am a generous rater: I give high scores to most films",
    "balanced": "I am a balanced rater: my scores are neither high nor low",
    "harsh": "I am a harsh rater: I give low scores to most films",
    "narrow": "My taste is narrow: I stick to a few genres I know I like",
    "broad": "My taste is broad: I enjoy many different genres",
}


class PersonaFacts(BaseModel):
    """The discrete facts a backstory should carry about its persona."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_genres: tuple[str, ...] = Field(
        max_length=_N_TOP, description="the favourite genres, a set: stored sorted, unique"
    )
    activity: Activity
    rating_style: RatingStyleName
    openness: Openness

    @field_validator("top_genres")
    @classmethod
    def _as_set(cls, genres: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(genres)))


class Failure(BaseModel):
    """One persona whose backstory could not be written or read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    persona_id: str
    stage: Literal["write", "extract"]
    error: str


class BackstoryResult(BaseModel):
    """One persona's backstory, its expected and read-back facts and their mismatch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    persona_id: str
    backstory: str | None
    expected: PersonaFacts
    found: PersonaFacts | None = None
    mismatch: dict[str, float] | None = None
    failure: Failure | None = None


class BackstoryReport(BaseModel):
    """How well backstories carry their personas' facts.

    ``rates`` are mean mismatches over the personas checked (not the failures);
    ``strict`` counts each failure as a total mismatch (1.0 on every attribute);
    ``chance`` is the mismatch of every read-back against every *other*
    persona's facts: the level a backstory that carried nothing would reach.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(ge=0, description="personas attempted")
    checked: int = Field(ge=0, description="personas written and read back")
    failures: list[Failure]
    rates: dict[str, float | None]
    strict: dict[str, float | None]
    chance: dict[str, float | None]
    model: str = Field(description="identity of the model that wrote and read the stories")
    seed: int
    max_tokens: int = Field(ge=1, description="the bound on each story's length")
    cache_hits: int = Field(ge=0, description="questions answered from the cache")
    calls: int = Field(ge=0, description="questions asked (a repaired answer counts once)")
    wall_seconds: float
    results: list[BackstoryResult]


def _scale_position(mean: float, scale: RatingScale) -> float:
    return (mean - scale.low) / (scale.high - scale.low)


def _ranked_genres(persona: Persona, genres: Sequence[str]) -> list[str]:
    known = set(genres)
    affinity = {g: a for g, a in persona.taste.genre_affinity.items() if g in known}
    return sorted(affinity, key=lambda g: (-affinity[g], g))


def persona_facts(
    persona: Persona, genres: Sequence[str], *, scale: RatingScale = MOVIELENS_SCALE
) -> PersonaFacts:
    """The checkable facts of a persona (definitions in the module docstring).

    Args:
        persona: The persona.
        genres: The dataset's genre vocabulary; affinities for other names are ignored.
        scale: The rating scale the persona's rating mean is on.

    Returns:
        Its facts.
    """
    items_per_day = persona.traits.sessions_per_day * persona.traits.items_per_session
    activity: Activity = (
        "occasional"
        if items_per_day < _ITEMS_PER_DAY[0]
        else ("regular" if items_per_day < _ITEMS_PER_DAY[1] else "heavy")
    )
    position = _scale_position(persona.rating.mean, scale)
    style: RatingStyleName = (
        "harsh"
        if position < _SCALE_POSITION[0]
        else ("balanced" if position < _SCALE_POSITION[1] else "generous")
    )
    return PersonaFacts(
        top_genres=tuple(_ranked_genres(persona, genres)[:_N_TOP]),
        activity=activity,
        rating_style=style,
        openness="broad" if persona.traits.diversity >= _BROAD_FROM else "narrow",
    )


def mismatch(expected: PersonaFacts, found: PersonaFacts) -> dict[str, float]:
    """Per-attribute mismatch in [0, 1] and their mean, ``"overall"``.

    ``top_genres``: ``1 - |overlap| / 3`` (in general, over the larger of the two
    sets; two empty sets match); the others: 0 when equal, else 1. Symmetric, and
    0 everywhere exactly when the facts are equal.
    """
    larger = max(len(expected.top_genres), len(found.top_genres))
    overlap = len(set(expected.top_genres) & set(found.top_genres))
    result = {"top_genres": 1.0 - overlap / larger if larger else 0.0}
    for name in ATTRIBUTES[1:]:
        result[name] = 0.0 if getattr(expected, name) == getattr(found, name) else 1.0
    result["overall"] = sum(result[name] for name in ATTRIBUTES) / len(ATTRIBUTES)
    return result


@cache
def extraction_model(genres: tuple[str, ...]) -> type[BaseModel]:
    """The structured answer read back from a backstory, its genres an enum of `genres`.

    Every field is required and no other field is allowed (``additionalProperties: false``).
    """
    if not genres:
        raise ValueError("extraction needs a genre vocabulary")
    genre = Literal.__getitem__(genres)
    return create_model(
        "BackstoryFacts",
        __config__=ConfigDict(extra="forbid", frozen=True),
        top_genres=(list[genre], Field(min_length=_N_TOP, max_length=_N_TOP)),  # type: ignore[valid-type]
        activity=(Activity, ...),
        rating_style=(RatingStyleName, ...),
        openness=(Openness, ...),
    )


def call_seed(seed: int, persona_id: str, purpose: str) -> int:
    """A per-persona, per-purpose seed for the model's sampler, derived from the root seed."""
    digest = hashlib.sha256(f"{seed}\0{persona_id}\0{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def prompt_hash() -> str:
    """The first 8 hex digits of a hash over the backstory-writing templates."""
    hashes = PROMPTS.hashes()
    joined = "".join(hashes[name] for name in _WRITE_TEMPLATES)
    return hashlib.sha256(joined.encode()).hexdigest()[:8]


def _who(persona: Persona) -> str | None:
    d = persona.demographics
    parts = []
    if d.age is not None:
        parts.append(f"{d.age} years old")
    if d.gender:
        parts.append({"M": "a man", "F": "a woman"}.get(d.gender, d.gender))
    if d.occupation and d.occupation not in ("none", "other"):
        parts.append(f"working as {d.occupation}")
    return ", ".join(parts) if parts else None


def backstory_messages(
    persona: Persona, genres: Sequence[str], *, scale: RatingScale = MOVIELENS_SCALE
) -> list[dict[str, str]]:
    """The chat messages asking a model for the persona's first-person backstory."""
    facts = persona_facts(persona, genres, scale=scale)
    ranked = _ranked_genres(persona, genres)
    favourites = ranked[:_N_TOP]  # in affinity order, unlike facts.top_genres
    affinity = persona.taste.genre_affinity
    dislikes = [g for g in reversed(ranked[_N_TOP:]) if affinity[g] < 0][:_N_DISLIKED]
    crowd = (
        "I usually agree with what most people think of a film"
        if persona.traits.conformity >= _CONFORMIST_FROM
        else "I often disagree with what most people think of a film"
    )
    user = render(
        "backstory_user",
        who=_who(persona),
        favourites=favourites,
        dislikes=dislikes,
        activity_gloss=_GLOSS[facts.activity],
        rating_gloss=_GLOSS[facts.rating_style],
        openness_gloss=_GLOSS[facts.openness],
        crowd=crowd,
    )
    return [
        {"role": "system", "content": render("backstory_system")},
        {"role": "user", "content": user},
    ]


def extract_messages(backstory: str, genres: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages asking a model to read the facts back from a backstory."""
    return [
        {"role": "system", "content": render("backstory_extract_system")},
        {
            "role": "user",
            "content": render("backstory_extract_user", backstory=backstory, genres=list(genres)),
        },
    ]


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
    max_tokens: int,
    counter: _Counter | None,
) -> str:
    reply = await llm.text(
        backstory_messages(persona, genres, scale=scale),
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
    max_tokens: int = BACKSTORY_MAX_TOKENS,
) -> str:
    """A first-person life story of `persona`, written by `llm` from its facts.

    Args:
        llm: The model.
        persona: Whose story.
        seed: The root seed; the call's seed is derived from it and the persona id.
        genres: The dataset's genre vocabulary.
        scale: The rating scale of the persona's ratings.
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
        max_tokens=max_tokens,
        counter=None,
    )


async def _extract(
    llm: StoryModel,
    backstory: str,
    *,
    seed: int,
    genres: Sequence[str],
    persona_id: str | None,
    counter: _Counter | None,
) -> PersonaFacts:
    answer = await llm.structured(
        extract_messages(backstory, genres),
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
) -> PersonaFacts:
    """The facts `llm` reads back from `backstory` alone, as structured output.

    Args:
        llm: The model.
        backstory: The story.
        seed: The root seed; the call's seed is derived from it and `persona_id`.
        genres: The dataset's genre vocabulary: the only genre names the answer may use.
        persona_id: Whose story, for the call's tag and seed.

    Returns:
        The facts read back.

    Raises:
        InvalidAnswer: The model gave no valid answer within the allowed repairs.
    """
    return await _extract(
        llm, backstory, seed=seed, genres=genres, persona_id=persona_id, counter=None
    )


async def _check_one(
    llm: StoryModel,
    persona: Persona,
    *,
    seed: int,
    genres: Sequence[str],
    scale: RatingScale,
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
            max_tokens=max_tokens,
            counter=counter,
        )
    except llm.failure as exc:  # InvalidAnswer (empty after repairs) or TransportError
        return failed("write", _describe(exc), None)
    if not story:
        return failed("write", "empty backstory", story)
    try:
        found = await _extract(
            llm, story, seed=seed, genres=genres, persona_id=persona.id, counter=counter
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


def backstory_provenance(model: str, seed: int) -> str:
    """The ``Provenance.backstory_by`` label of an LLM-written backstory."""
    return f"llm {model} seed={seed} prompt={prompt_hash()}"


def with_backstories(personas: Sequence[Persona], report: BackstoryReport) -> list[Persona]:
    """New personas whose backstory is the LLM-written one from `report`.

    A persona without a written story (a write failure, or an empty story) keeps
    its template backstory and provenance; one whose story was written but not
    read back still gets it.

    Args:
        personas: The personas the report was made for.
        report: The report of :func:`check_backstories`; its model identity and seed
            go into each updated persona's ``provenance.backstory_by``.

    Returns:
        The personas, in the same order.
    """
    stories = {r.persona_id: r.backstory for r in report.results if r.backstory}
    label = backstory_provenance(report.model, report.seed)
    updated = []
    for persona in personas:
        story = stories.get(persona.id)
        if story is None:
            updated.append(persona)
            continue
        provenance = persona.provenance.model_copy(update={"backstory_by": label})
        updated.append(persona.model_copy(update={"backstory": story, "provenance": provenance}))
    return updated


def report_rows(report: BackstoryReport) -> list[dict[str, Any]]:
    """One row per attribute (and overall): measured, strict and chance mismatch."""
    return [
        {
            "attribute": name,
            "mismatch": report.rates[name],
            "strict": report.strict[name],
            "chance": report.chance[name],
        }
        for name in (*ATTRIBUTES, "overall")
    ]
