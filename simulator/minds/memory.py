"""Episodic memory scored by recency (in simulated time), importance and relevance.

Relevance is the cosine between genre profiles until embeddings arrive. The
store is bounded: past capacity the entry with the least retention (recency
plus importance) is forgotten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class MemoryConfig(BaseModel):
    """Weights and bounds of episodic memory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    capacity: int = Field(default=200, ge=1)
    half_life_days: float = Field(default=3.0, gt=0)
    recency_weight: float = 1.0
    importance_weight: float = 1.0
    relevance_weight: float = 1.0
    recall_k: int = Field(default=8, ge=1)


@dataclass(frozen=True)
class MemoryEntry:
    """Something the persona experienced."""

    t: float
    item_id: int
    rating: float
    importance: float
    features: tuple[float, ...]


@dataclass(frozen=True)
class Recall:
    """What came to mind for an observation."""

    entries: tuple[MemoryEntry, ...]
    familiarity: np.ndarray  # per query row: score-weighted relevance to the recalled entries


@dataclass
class EpisodicMemory:
    """A bounded list of entries plus the set of items already consumed."""

    config: MemoryConfig = field(default_factory=MemoryConfig)
    entries: list[MemoryEntry] = field(default_factory=list)
    consumed: set[int] = field(default_factory=set)

    def _recency(self, now: float, times: np.ndarray) -> np.ndarray:
        decay = math.log(2) / (self.config.half_life_days * 86400.0)
        result: np.ndarray = np.exp(-decay * np.maximum(now - times, 0.0))
        return result

    def store(self, entry: MemoryEntry, now: float) -> None:
        """Remember an entry, forgetting the least retained one past capacity."""
        self.entries.append(entry)
        self.consumed.add(entry.item_id)
        if len(self.entries) > self.config.capacity:
            times = np.array([e.t for e in self.entries])
            importance = np.array([e.importance for e in self.entries])
            retention = self._recency(now, times) + importance
            del self.entries[int(np.argmin(retention))]  # argmin takes the oldest on ties

    def recall(self, queries: np.ndarray, now: float) -> Recall:
        """Top entries for the queries (rows of genre profiles), and each row's familiarity."""
        if not self.entries or len(queries) == 0:
            return Recall(entries=(), familiarity=np.zeros(len(queries)))
        features = np.array([e.features for e in self.entries])
        norms = np.linalg.norm(features, axis=1) * np.linalg.norm(queries, axis=1)[:, None]
        relevance = np.divide(
            queries @ features.T,
            norms,
            out=np.zeros((len(queries), len(features))),
            where=norms > 0,
        )
        c = self.config
        base = c.recency_weight * self._recency(now, np.array([e.t for e in self.entries]))
        base += c.importance_weight * np.array([e.importance for e in self.entries])
        scores = base + c.relevance_weight * relevance.mean(axis=0)
        # Stable sort: ties go to the earlier memory, so recall is deterministic.
        top = np.argsort(-scores, kind="stable")[: c.recall_k]
        weights = np.maximum(scores[top], 0.0)
        total = weights.sum()
        familiarity = relevance[:, top] @ weights / total if total > 0 else np.zeros(len(queries))
        return Recall(entries=tuple(self.entries[i] for i in top), familiarity=familiarity)

    def get_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return {
            "entries": [
                (e.t, e.item_id, e.rating, e.importance, list(e.features)) for e in self.entries
            ],
            "consumed": sorted(self.consumed),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint."""
        self.entries = [
            MemoryEntry(t=t, item_id=i, rating=r, importance=imp, features=tuple(f))
            for t, i, r, imp, f in state["entries"]
        ]
        self.consumed = set(state["consumed"])
