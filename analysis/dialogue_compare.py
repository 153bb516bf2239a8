"""Simulated dialogues against real human ones, measured against a split-half floor.

The engine is `analysis.splithalf`'s, as for browsing runs: each row carries
a distance, a floor (the distance between random halves of the real dialogues) and their ratio. Here
the two sides share no ids (simulated and real dialogues are different
people), so each side is split on its own. For each of ``n_splits`` splits the
real dialogues are shuffled into halves R_A and R_B, the simulated ones into
S_A and S_B, and with ``n = min(|S_A|, |R_A|)``

* ``floor_k = d(R_A[:n], R_B)``,
* ``distance_k = (d(S_A[:n], R_B) + d(S_B[:n], R_A)) / 2``,

so the simulated and the floor comparisons have the same sample size on each
side. The row's ``distance`` and ``floor`` are the means over splits (nan left
out) and ``ratio`` their quotient. With fewer than two dialogues on a side
both are nan. The ``simulated`` and ``real`` summaries are taken on the full
sets.

Only dialogues in which the person spoke and the bot answered count: a
dialogue the person never spoke in says nothing about how people talk, and
one the bot never answered (a third of ConvAI2's one-turn chats: a greeting
left hanging) measures the bot, not the people. Stop reasons are the
exception (see :class:`DialogueComparison`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.dialogues import DialogueSet, dialogues_from_run, user_turns
from analysis.distance import wasserstein
from analysis.splithalf import (
    ComparisonRow,
    FloatArray,
    Metric,
    abs_diff,
    compare_halves,
    independent_halves,
    mean,
    only,
    scalar,
)
from analysis.transcripts import load_transcripts

MATTR_WINDOW = 25  # tokens; the usual choice for short texts
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class DialogueComparison:
    """The comparison table and what only the simulated side has.

    Attributes:
        rows: One row per metric (see :func:`compare_dialogues`).
        stop_reasons: Share of simulated dialogues per stop reason, over every
            simulated dialogue that has one, whether or not the persona spoke
            (an early failure is a reason worth seeing). Real dialogues have
            none: people do not say why they left.
        simulated_dialogues: Simulated dialogues in the metrics (with a user message).
        real_dialogues: Real dialogues in the metrics (with a user message).
        against: What the real side was, e.g. the path it was read from.
    """

    rows: list[ComparisonRow]
    stop_reasons: dict[str, float]
    simulated_dialogues: int
    real_dialogues: int
    against: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite numbers become None."""
        return {
            "rows": [row.as_dict() for row in self.rows],
            "stop_reasons": {
                reason: share if math.isfinite(share) else None
                for reason, share in self.stop_reasons.items()
            },
            "simulated_dialogues": self.simulated_dialogues,
            "real_dialogues": self.real_dialogues,
            "against": self.against,
        }


@dataclass(frozen=True)
class _Dialogue:
    """What the metrics need of one dialogue, taken once."""

    user_turns: int
    user_chars: tuple[int, ...]
    user_words: tuple[int, ...]
    user_speaks_last: bool
    tokens: tuple[str, ...]  # lowercased words of the user messages, in order


def _profiles(dialogues: DialogueSet) -> list[_Dialogue]:
    """The dialogues with a user message the bot answered, in dialogue-id order."""
    out = []
    for conversation in dialogues.conversations().values():
        user = [text for role, text in conversation if role == "user"]
        roles = [role for role, _ in conversation]
        if not user or "assistant" not in roles[roles.index("user") :]:
            continue
        out.append(
            _Dialogue(
                user_turns=user_turns([role for role, _ in conversation]),
                user_chars=tuple(len(text) for text in user),
                user_words=tuple(len(text.split()) for text in user),
                user_speaks_last=conversation[-1][0] == "user",
                tokens=tuple(t for text in user for t in _WORD.findall(text.lower())),
            )
        )
    return out


def mattr(tokens: Sequence[str], window: int = MATTR_WINDOW) -> float:
    """Moving-average type-token ratio: mean share of distinct tokens per window.

    Unlike the plain type-token ratio it does not fall as the text grows.

    Args:
        tokens: The text as tokens, in order.
        window: Window length in tokens.

    Returns:
        The MATTR in (0, 1]; the plain type-token ratio if there are fewer
        tokens than ``window``; nan if there are none.
    """
    if not tokens:
        return math.nan
    if len(tokens) < window:
        return len(set(tokens)) / len(tokens)
    counts = Counter(tokens[:window])
    distinct = [len(counts)]
    for leaving, entering in zip(tokens, tokens[window:], strict=False):
        counts[leaving] -= 1
        if counts[leaving] == 0:
            del counts[leaving]
        counts[entering] += 1
        distinct.append(len(counts))
    return sum(distinct) / (len(distinct) * window)


def _per_dialogue(value: Callable[[_Dialogue], float]) -> Callable[[list[_Dialogue]], FloatArray]:
    return lambda ds: np.array([value(d) for d in ds], dtype=np.float64)


def _per_message(
    values: Callable[[_Dialogue], tuple[int, ...]],
) -> Callable[[list[_Dialogue]], FloatArray]:
    return lambda ds: np.array([v for d in ds for v in values(d)], dtype=np.float64)


def _speaks_last(ds: list[_Dialogue]) -> FloatArray:
    return scalar(mean(np.array([d.user_speaks_last for d in ds], dtype=np.float64)))


def _lexical_diversity(ds: list[_Dialogue]) -> FloatArray:
    return scalar(mattr([t for d in ds for t in d.tokens]))


METRICS: list[Metric[list[_Dialogue]]] = [
    Metric("user_turns", "wasserstein", _per_dialogue(lambda d: d.user_turns), wasserstein, mean),
    Metric(
        "user_message_chars",
        "wasserstein",
        _per_message(lambda d: d.user_chars),
        wasserstein,
        mean,
    ),
    Metric(
        "user_message_words",
        "wasserstein",
        _per_message(lambda d: d.user_words),
        wasserstein,
        mean,
    ),
    Metric("user_speaks_last", "abs_diff", _speaks_last, abs_diff, only),
    Metric("lexical_diversity", "abs_diff", _lexical_diversity, abs_diff, only),
    Metric(
        "user_messages_per_dialogue",
        "wasserstein",
        _per_dialogue(lambda d: len(d.user_chars)),
        wasserstein,
        mean,
    ),
]


def _stop_reasons(sim: DialogueSet) -> dict[str, float]:
    reasons = sim.dialogues["stop_reason"].drop_nulls().to_list()
    counts = Counter(reasons)
    return {reason: counts[reason] / len(reasons) for reason in sorted(counts)}


def compare_dialogues(
    sim: DialogueSet,
    real: DialogueSet,
    *,
    seed: int = 0,
    n_splits: int = 5,
    against: str = "",
) -> DialogueComparison:
    """Compare simulated with real dialogues, metric by metric.

    Rows, in order: user_turns, user_message_chars, user_message_words
    (Wasserstein-1, summary the mean), user_speaks_last (share of dialogues
    whose last message is the user's), lexical_diversity (MATTR over the user
    messages, window 25 tokens; both scalars, compared by absolute
    difference), user_messages_per_dialogue (Wasserstein-1, mean).

    Args:
        sim: Simulated dialogues.
        real: Real dialogues.
        seed: Seed of the random splits.
        n_splits: Number of random splits averaged into each distance and floor.
        against: What the real side was, kept in the result.

    Returns:
        The rows, the simulated stop reasons and the dialogue counts.

    Raises:
        ValueError: If ``n_splits`` is less than 1.
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    sim_dialogues, real_dialogues = _profiles(sim), _profiles(real)
    splits = independent_halves(sim_dialogues, real_dialogues, seed, n_splits)
    rows = compare_halves(METRICS, sim_dialogues, real_dialogues, splits)
    return DialogueComparison(
        rows=rows,
        stop_reasons=_stop_reasons(sim),
        simulated_dialogues=len(sim_dialogues),
        real_dialogues=len(real_dialogues),
        against=against,
    )


def compare_chat_run(
    run_dir: str | Path,
    against: str | Path,
    *,
    seed: int = 0,
    n_splits: int = 5,
    format: str = "auto",
) -> DialogueComparison:
    """Compare the dialogues of a chat run with human ones.

    Args:
        run_dir: The run directory.
        against: Human transcripts (see :mod:`analysis.transcripts`): a file or a folder.
        format: ``auto`` (told from the content), ``convai2``, ``sharegpt`` or ``openai``.
        seed: Seed of the random splits.
        n_splits: Number of random splits (see :func:`compare_dialogues`).

    Returns:
        The comparison, with ``against`` as given.

    Raises:
        analysis.frames.TraceError: If the run's trace cannot be read.
        analysis.dialogues.DialogueError: If the transcripts cannot be read.
    """
    return compare_dialogues(
        dialogues_from_run(run_dir),
        load_transcripts(against, format),  # type: ignore[arg-type]
        seed=seed,
        n_splits=n_splits,
        against=str(against),
    )
