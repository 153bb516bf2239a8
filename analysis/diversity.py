"""How varied a set of dialogues is: distinct-n over words, and embedding spread.

distinct-n is unique n-grams over all n-grams (Li et al., 2016), pooled over
messages; n-grams never span two messages. Words are lowercased runs of
letters and digits, with inner apostrophes kept ("don't" is one word).
Embedding spread is the mean pairwise cosine distance between texts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from simulator.minds.embeddings import TextEmbedder, default_embedder

_WORD = re.compile(r"\w+(?:['’]\w+)*")


def words(text: str) -> list[str]:
    """The lowercased words of a text, in order."""
    return _WORD.findall(text.lower())


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique n-grams over all n-grams in the texts; nan if there are none.

    Raises:
        ValueError: If n < 1.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = words(text)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else math.nan


def embedding_spread(vectors: np.ndarray) -> float:
    """Mean cosine distance over all pairs of rows; nan for fewer than two rows.

    Uses sum_{i<j} cos(i, j) = (|sum of unit rows|^2 - n) / 2, so memory stays
    linear in the number of rows.
    """
    n = len(vectors)
    if n < 2:
        return math.nan
    rows = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit = rows / np.maximum(norms, 1e-12)
    total = unit.sum(axis=0)
    squares = float((unit * unit).sum())  # n, less any all-zero rows
    mean_cosine = (float(total @ total) - squares) / (n * (n - 1))
    return 1.0 - mean_cosine


def diversity(
    user_messages: Sequence[Sequence[str]],
    assistant_messages: Sequence[Sequence[str]],
    embedder: TextEmbedder | None = None,
) -> dict[str, float]:
    """distinct-1/2 per side and the spread of the dialogues' user sides.

    Args:
        user_messages: Per dialogue, its user messages in order.
        assistant_messages: Per dialogue, its assistant messages in order.
        embedder: Embeds each dialogue's user messages joined by newlines; the
            process-wide MiniLM embedder if None.

    Returns:
        ``dialogues`` (count), ``user_distinct_1``, ``user_distinct_2``,
        ``assistant_distinct_1``, ``assistant_distinct_2`` and
        ``user_embedding_spread``; a measure with nothing to measure is nan.
    """
    users = [text for dialogue in user_messages for text in dialogue]
    assistants = [text for dialogue in assistant_messages for text in dialogue]
    joined = ["\n".join(dialogue) for dialogue in user_messages]
    if len(joined) < 2:
        spread = math.nan  # no pairs: skip loading the model
    else:
        spread = embedding_spread((embedder or default_embedder()).embed(joined))
    return {
        "dialogues": len(user_messages),
        "user_distinct_1": distinct_n(users, 1),
        "user_distinct_2": distinct_n(users, 2),
        "assistant_distinct_1": distinct_n(assistants, 1),
        "assistant_distinct_2": distinct_n(assistants, 2),
        "user_embedding_spread": spread,
    }
