"""The checkable facts a backstory should carry about its persona, and how far two differ.

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

from collections.abc import Sequence
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from personas.datasets import RatingScale
from personas.schema import Persona

Activity = Literal["occasional", "regular", "heavy"]
RatingStyleName = Literal["generous", "balanced", "harsh"]
Openness = Literal["narrow", "broad"]

ATTRIBUTES = ("top_genres", "activity", "rating_style", "openness")
MOVIELENS_SCALE = RatingScale(low=0.5, high=5.0, step=0.5)

_ITEMS_PER_DAY = (20.0, 50.0)  # occasional < 20 <= regular < 50 <= heavy
_SCALE_POSITION = (0.65, 0.75)  # harsh < 0.65 <= balanced < 0.75 <= generous
_BROAD_FROM = 0.8  # diversity
N_TOP = 3


class PersonaFacts(BaseModel):
    """The discrete facts a backstory should carry about its persona."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_genres: tuple[str, ...] = Field(
        max_length=N_TOP, description="the favourite genres, a set: stored sorted, unique"
    )
    activity: Activity
    rating_style: RatingStyleName
    openness: Openness

    @field_validator("top_genres")
    @classmethod
    def _as_set(cls, genres: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(genres)))


def _scale_position(mean: float, scale: RatingScale) -> float:
    return (mean - scale.low) / (scale.high - scale.low)


def ranked_genres(persona: Persona, genres: Sequence[str]) -> list[str]:
    """The persona's genres among `genres`, highest affinity first (ties by name)."""
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
        top_genres=tuple(ranked_genres(persona, genres)[:N_TOP]),
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
        top_genres=(list[genre], Field(min_length=N_TOP, max_length=N_TOP)),  # type: ignore[valid-type]
        activity=(Activity, ...),
        rating_style=(RatingStyleName, ...),
        openness=(Openness, ...),
    )
