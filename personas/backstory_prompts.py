"""The messages that ask a model for a persona's backstory, and for its facts back.

A backstory is asked for from the persona's facts and its favourite and disliked
genres, in the first person; the hash of the writing templates goes into each
written story's provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from personas.backstory_facts import MOVIELENS_SCALE, N_TOP, persona_facts, ranked_genres
from personas.datasets import FILM_WORDS, RatingScale, Words
from personas.schema import Persona
from personas.templates import Templates

PROMPTS = Templates("personas", "prompts")
render = PROMPTS.render


_CONFORMIST_FROM = 0.6  # as the template backstory
_N_DISLIKED = 2
_WRITE_TEMPLATES = ("backstory_system", "backstory_user")

_GLOSS: dict[str, str] = {
    "occasional": "I am an occasional user: I {consume} {items} only now and then",
    "regular": "I am a regular user: I {consume} {items} most weeks",
    "heavy": "I am a heavy user: I {consume} a huge number of {items}",
    "generous": "I am a generous rater: I give high scores to most {items}",
    "balanced": "I am a balanced rater: my scores are neither high nor low",
    "harsh": "I am a harsh rater: I give low scores to most {items}",
    "narrow": "My taste is narrow: I stick to a few genres I know I like",
    "broad": "My taste is broad: I enjoy many different genres",
}


def _gloss(fact: str, words: Words) -> str:
    return _GLOSS[fact].format(consume=words.consume, items=words.items)


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
    persona: Persona,
    genres: Sequence[str],
    *,
    scale: RatingScale = MOVIELENS_SCALE,
    words: Words = FILM_WORDS,
) -> list[dict[str, str]]:
    """The chat messages asking a model for the persona's first-person backstory."""
    facts = persona_facts(persona, genres, scale=scale)
    ranked = ranked_genres(persona, genres)
    favourites = ranked[:N_TOP]  # in affinity order, unlike facts.top_genres
    affinity = persona.taste.genre_affinity
    dislikes = [g for g in reversed(ranked[N_TOP:]) if affinity[g] < 0][:_N_DISLIKED]
    crowd = (
        f"I usually agree with what most people think of a {words.item}"
        if persona.traits.conformity >= _CONFORMIST_FROM
        else f"I often disagree with what most people think of a {words.item}"
    )
    user = render(
        "backstory_user",
        who=_who(persona),
        favourites=favourites,
        dislikes=dislikes,
        activity_gloss=_gloss(facts.activity, words),
        rating_gloss=_gloss(facts.rating_style, words),
        openness_gloss=_gloss(facts.openness, words),
        crowd=crowd,
        words=words,
    )
    return [
        {"role": "system", "content": render("backstory_system")},
        {"role": "user", "content": user},
    ]


def extract_messages(
    backstory: str, genres: Sequence[str], words: Words = FILM_WORDS
) -> list[dict[str, str]]:
    """The chat messages asking a model to read the facts back from a backstory."""
    user = render("backstory_extract_user", backstory=backstory, genres=list(genres), words=words)
    return [
        {"role": "system", "content": render("backstory_extract_system", words=words)},
        {"role": "user", "content": user},
    ]
