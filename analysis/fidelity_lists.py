"""Agent4Rec's list task (the micro protocol): held-out items among never-rated ones, pooled."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.fidelity_brains import DeliberateTasks, ListTaskBrain
from analysis.fidelity_population import Population
from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog

MAX_LIST = 20
DEFAULT_RATIOS = (1, 3, 9)
WATCH_THRESHOLD = 0.5


def finite(value: float) -> float | None:
    """`value`, or None when it is not finite (for JSON)."""
    return value if math.isfinite(value) else None


def check_ratio(ratio: int) -> int:
    """Return `ratio` if a list of ``MAX_LIST`` items can hold it with one positive.

    Raises:
        ValueError: When it is not a whole number from 1 to ``MAX_LIST - 1``.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, int) or not 1 <= ratio <= MAX_LIST - 1:
        raise ValueError(
            f"ratio {ratio!r} is out of range; negatives per positive must be a whole number "
            f"from 1 to {MAX_LIST - 1}, so that a list of {MAX_LIST} holds a positive"
        )
    return ratio


def parse_ratios(text: str) -> tuple[int, ...]:
    """Parse "1,3,9" into (1, 3, 9); see :func:`check_ratio` for what a ratio may be.

    Raises:
        ValueError: On an empty list, a non-integer, a ratio out of range or a repeat.
    """
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise ValueError(f"--ratios: expected whole numbers separated by commas, got {text!r}")
    ratios: list[int] = []
    for part in parts:
        try:
            ratio = int(part)
        except ValueError:
            raise ValueError(f"--ratios: {part!r} is not a whole number (in {text!r})") from None
        try:
            check_ratio(ratio)
        except ValueError as exc:
            raise ValueError(f"--ratios: {exc}") from None
        if ratio in ratios:
            raise ValueError(f"--ratios: {ratio} is given twice (in {text!r})")
        ratios.append(ratio)
    return tuple(ratios)


@dataclass(frozen=True)
class ListTask:
    """One list shown to one persona: the items in shown order and which are positives."""

    persona_id: str
    user_id: int
    ratio: int
    items: tuple[int, ...]
    positives: frozenset[int]

    @property
    def labels(self) -> np.ndarray:
        """1 for a held-out (positive) item, 0 for a negative, in list order."""
        return np.array([item in self.positives for item in self.items], dtype=np.int64)


def build_list(
    persona: Persona,
    user_id: int,
    heldout_items: Sequence[int],
    rated: np.ndarray,
    catalog: Catalog,
    ratio: int,
    streams: Streams,
) -> ListTask:
    """The list task for one persona and ratio.

    Positives: the earliest distinct held-out items, ``n_pos = min(len, 20 // (1 + m))``.
    Negatives: ``m * n_pos`` catalogue items the user never rated, uniformly without
    replacement (fewer only if the catalogue runs out). Both draws are keyed by
    (persona, purpose).
    """
    n_pos = min(len(heldout_items), MAX_LIST // (1 + ratio))
    positives = [int(i) for i in heldout_items[:n_pos]]
    pool = np.setdiff1d(catalog.item_ids, rated)
    negatives_rng = streams.generator(persona.id, f"bench:negatives:{ratio}")
    negatives = negatives_rng.choice(pool, size=min(ratio * n_pos, len(pool)), replace=False)
    items = np.array(positives + [int(i) for i in negatives], dtype=np.int64)
    order = streams.generator(persona.id, f"bench:order:{ratio}").permutation(len(items))
    return ListTask(
        persona_id=persona.id,
        user_id=user_id,
        ratio=ratio,
        items=tuple(int(i) for i in items[order]),
        positives=frozenset(positives),
    )


def _heldout_items(pop: Population) -> dict[int, list[int]]:
    """Each user's distinct held-out items, earliest first."""
    return {
        int(uid): frame.unique("item_id", keep="first", maintain_order=True)["item_id"].to_list()
        for (uid,), frame in pop.heldout.partition_by(
            "user_id", as_dict=True, maintain_order=True
        ).items()
    }


def build_lists(pop: Population, ratio: int) -> list[ListTask]:
    """The list task of every persona of the population for one ratio."""
    streams = Streams(pop.config.seed)
    heldout = _heldout_items(pop)
    lists = []
    for persona in pop.personas:
        user = pop.user_of(persona)
        lists.append(
            build_list(
                persona, user, heldout[user], pop.rated[user], pop.prep.catalog, ratio, streams
            )
        )
    return lists


@dataclass(frozen=True)
class Confusion:
    """Pooled confusion counts of a binary choice; positive = "would watch"."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, chosen: np.ndarray) -> Confusion:
        """Count from 0/1 truths and 0/1 choices."""
        labels, chosen = np.asarray(labels, dtype=bool), np.asarray(chosen, dtype=bool)
        return cls(
            tp=int((labels & chosen).sum()),
            fp=int((~labels & chosen).sum()),
            fn=int((labels & ~chosen).sum()),
            tn=int((~labels & ~chosen).sum()),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """All decisions counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        """Share of right decisions; nan when there are none."""
        return (self.tp + self.tn) / self.total if self.total else math.nan

    @property
    def precision(self) -> float:
        """Share of chosen items that were positives; 0 when nothing is chosen."""
        chosen = self.tp + self.fp
        return self.tp / chosen if chosen else 0.0

    @property
    def recall(self) -> float:
        """Share of positives chosen; 0 when there are none."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class MicroResult:
    """The list task at one ratio, pooled over users (micro-averaged)."""

    ratio: int
    confusion: Confusion
    lists: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, with the pooled counts."""
        c = self.confusion
        return {
            "ratio": self.ratio,
            "accuracy": finite(c.accuracy),
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "lists": self.lists,
            "tp": c.tp,
            "fp": c.fp,
            "fn": c.fn,
            "tn": c.tn,
        }


def micro_protocol(
    pop: Population,
    brain: ListTaskBrain | DeliberateTasks,
    ratios: Sequence[int] = DEFAULT_RATIOS,
) -> list[MicroResult]:
    """Agent4Rec's list task: would the persona watch each item of the list?"""
    personas = {p.id: p for p in pop.personas}
    results = []
    for ratio in ratios:
        pooled = Confusion()
        tasks = build_lists(pop, ratio)
        asked = [(personas[task.persona_id], list(task.items)) for task in tasks]
        answers: list[np.ndarray | None] = (
            brain.watch_many(asked)
            if isinstance(brain, DeliberateTasks)
            else [brain.watch_probabilities(persona, items) for persona, items in asked]
        )
        answered = 0
        for task, probabilities in zip(tasks, answers, strict=True):
            if probabilities is not None:
                pooled += Confusion.of(task.labels, np.asarray(probabilities) >= WATCH_THRESHOLD)
                answered += 1
        results.append(MicroResult(ratio=ratio, confusion=pooled, lists=answered))
    return results
