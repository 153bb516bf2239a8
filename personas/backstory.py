"""Short template backstories written from a persona's attributes."""

from __future__ import annotations

from personas.datasets import FILM_WORDS, Words
from personas.schema import Demographics, RatingStyle, Traits


def _who(demographics: Demographics, words: Words) -> str:
    parts = []
    if demographics.age is not None:
        parts.append(f"{demographics.age}-year-old")
    if demographics.gender:
        parts.append({"M": "man", "F": "woman"}.get(demographics.gender, demographics.gender))
    if demographics.occupation and demographics.occupation not in ("none", "other"):
        parts.append(
            f"who works as {demographics.occupation}" if parts else demographics.occupation
        )
    return (
        "I am a " + " ".join(parts) + "." if parts else f"I {words.consume} a lot of {words.items}."
    )


def template_backstory(
    demographics: Demographics,
    traits: Traits,
    rating: RatingStyle,
    favourite_genres: list[str],
    scale_high: float,
    words: Words = FILM_WORDS,
) -> str:
    """A few first-person sentences; LLM-written life stories replace these later."""
    pace = (
        "several times a day"
        if traits.sessions_per_day >= 2
        else ("most days" if traits.sessions_per_day >= 0.5 else "now and then")
    )
    taste = ", ".join(favourite_genres[:3]) if favourite_genres else "a bit of everything"
    if rating.bias > 0.25:
        tone = "I am generous with my ratings"
    elif rating.bias < -0.25:
        tone = "I am a tough critic"
    else:
        tone = "my ratings are about average"
    crowd = (
        "I usually agree with what everyone else thinks"
        if traits.conformity >= 0.6
        else "I often disagree with the crowd"
    )
    return (
        f"{_who(demographics, words)} I pick {words.items} {pace}, about "
        f"{traits.items_per_session:.0f} at a sitting, and I am drawn to {taste}. "
        f"{tone} (out of {scale_high:g}), and {crowd}."
    )
