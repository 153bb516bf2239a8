"""A persona's way of writing, applied to what its model wrote.

A small model asked for "short, casual messages with typos" writes what it
likes. The style parameters are therefore applied by code, with the persona's
keyed stream: the length is cut to a drawn word budget, case and full stops
follow formality, typos and emoji are drawn at the persona's rates.
"""

from __future__ import annotations

import numpy as np

from personas.conversation import SpeakingStyle

EMOJI = ("🙂", "😊", "😅", "🙁", "😕", "👍", "🙏", "😂")


def clip_words(text: str, budget: int) -> str:
    """The first `budget` words of `text` (whitespace-separated), spacing normalised."""
    words = text.split()
    return " ".join(words[: max(budget, 1)])


def _typo(word: str, rng: np.random.Generator) -> str:
    # The three commonest slips: swapped neighbours, a dropped letter, a doubled one.
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def apply_style(text: str, style: SpeakingStyle, budget: int, rng: np.random.Generator) -> str:
    """`text` as this persona would type it, at most `budget` words (plus an emoji).

    Draws a fixed number of values per word and per message whatever the
    outcome, so a change in one message's length does not shift later draws
    more than that message's words.
    """
    words = clip_words(text, budget).split()
    if not words:
        return ""
    out = []
    for word in words:
        slip = rng.uniform() < style.typo_rate
        alpha = word.isalpha() and len(word) >= 3
        out.append(_typo(word, rng) if slip and alpha else word)
    message = " ".join(out)
    if style.formality < 0.35:
        message = message.lower().rstrip(".")
    elif style.formality >= 0.7:
        message = message[0].upper() + message[1:]
        if message[-1] not in ".!?":
            message = message.rstrip(",;:-") + "."
    if rng.uniform() < style.emoji_rate:
        message += " " + EMOJI[int(rng.integers(len(EMOJI)))]
    return message
