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
    scale_high: float | None,
    words: Words = FILM_WORDS,
) -> str:
    """A few first-person sentences; LLM-written life stories replace these later.

    ``scale_high`` is None for implicit feedback, where the persona's style is
    how often it goes back to what it likes (its mean log count), not a rating.
    """
    pace = (
        "several times a day"
        if traits.sessions_per_day >= 2
        else ("most days" if traits.sessions_per_day >= 0.5 else "now and then")
    )
    taste = ", ".join(favourite_genres[:3]) if favourite_genres else "a bit of everything"
    if scale_high is None:  # implicit: how often the persona goes back, not how it rates
        if rating.bias > 0.25:
            tone = f"I {words.consume} my favourite {words.items} over and over, more than most"
        elif rating.bias < -0.25:
            tone = f"I {words.consume} each {words.item} fewer times than most people do"
        else:
            tone = f"I go back to {words.items} I like about as often as most people"
    elif rating.bias > 0.25:
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
    out_of = "" if scale_high is None else f" (out of {scale_high:g})"
    return (
        f"{_who(demographics, words)} I pick {words.items} {pace}, about "
        f"{traits.items_per_session:.0f} at a sitting, and I am drawn to {taste}. "
        f"{tone}{out_of}, and {crowd}."
    )
