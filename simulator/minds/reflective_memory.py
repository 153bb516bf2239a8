"""A Generative-Agents-style memory stream for LLM personas, in simulated time.

Observations are stored with an importance in [0, 1]; recall scores every entry
by recency (exponential decay over simulated hours since it was last recalled
or created), importance and relevance (cosine with the query's embedding), each
min-max normalised over the memory and weighted. When the importance stored
since the last reflection reaches a threshold, a reflection is due: the caller
(an LLM) reads the recent entries and answers with `Insights`, each citing the
ids it rests on. Insights join the stream and may be cited by later insights.

Citations form an evidence graph (insight -> evidence), a networkx DiGraph.

Consolidation, the rule that bounds the memory: past capacity, entries are
forgotten one by one, lowest retention first, where retention is
`recency_weight * recency + importance_weight * importance` at the current
time (ties go to the older entry). Observations go before insights, except
while insights fill more than `max_insight_share` of capacity: then the least
retained insight goes, so reflections never crowd out fresh observations.
Entries added by the call that overflowed go last of all, so what was just
stored survives whenever anything else can go.

A forgotten entry that a remembered insight cites stays in the graph as a
tombstone holding its text, so `explain` still shows it; a tombstone is a leaf
(a forgotten insight keeps what it said, not why), and a tombstone that no
remembered insight cites any more is dropped. So the graph holds at most
capacity + 5 * insights nodes, however long the run.

Nothing reads the wall clock: every time is simulated seconds from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from simulator.minds.embeddings import TextEmbedder, default_embedder
from simulator.minds.reflective_types import (
    Entry,
    Evidence,
    Insight,
    Kind,
    ReflectiveMemoryConfig,
)

_STATE_VERSION = 1


class ReflectiveMemory:
    """A bounded memory stream with recall, reflection and an evidence graph."""

    def __init__(
        self,
        config: ReflectiveMemoryConfig | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.config = config or ReflectiveMemoryConfig()
        self._embedder = embedder
        self._entries: dict[int, Entry] = {}  # by id, oldest first
        self._vectors: dict[int, np.ndarray] = {}  # float32 rows, as embedded
        self._last_access: dict[int, float] = {}
        self._graph = nx.DiGraph()  # live entries and tombstones; edges insight -> evidence
        self._next_id = 0
        self._since_reflection = 0.0
        self._dim: int | None = None

    # -- reading -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every remembered entry, oldest first."""
        return tuple(self._entries.values())

    def get(self, entry_id: int) -> Entry:
        """The remembered entry with this id (KeyError if unknown or forgotten)."""
        return self._entries[entry_id]

    @property
    def graph(self) -> nx.DiGraph:
        """A copy of the evidence graph (nodes: entry ids; `forgotten` marks tombstones)."""
        return self._graph.copy()

    # -- writing -------------------------------------------------------------

    def store(self, text: str, t: float, importance: float) -> int:
        """Remember an observation made at simulated time t; returns its id."""
        _check_time(t)
        if not 0.0 <= importance <= 1.0:
            raise ValueError(f"importance must be in [0, 1], got {importance}")
        (vector,) = self._embed([text])
        entry_id = self._add("observation", text, t, importance, (), vector)
        self._since_reflection += importance
        self._consolidate(now=t, protected={entry_id})
        return entry_id

    def add_insights(self, insights: Sequence[Insight], t: float) -> list[int]:
        """Remember a reflection's insights at simulated time t; returns their ids.

        Every evidence id must be a remembered entry; otherwise a ValueError names
        it and nothing changes. An insight's importance is the mean of its
        evidence's plus `insight_bonus`, at most 1. The importance accumulator is
        reset, so an empty sequence records a reflection that found nothing.
        """
        _check_time(t)
        for insight in insights:
            for cited in insight.evidence:
                if cited not in self._entries:
                    why = "was forgotten" if cited < self._next_id else "does not exist"
                    raise ValueError(f"insight {insight.text!r} cites entry {cited}, which {why}")
        vectors = self._embed([insight.text for insight in insights])
        ids = []
        for insight, vector in zip(insights, vectors, strict=True):
            mean = sum(self._entries[i].importance for i in insight.evidence) / len(
                insight.evidence
            )
            importance = min(1.0, mean + self.config.insight_bonus)
            evidence = tuple(insight.evidence)
            entry_id = self._add("insight", insight.text, t, importance, evidence, vector)
            self._graph.add_edges_from((entry_id, cited) for cited in evidence)
            ids.append(entry_id)
        self._since_reflection = 0.0
        self._consolidate(now=t, protected=set(ids))
        return ids

    # -- recall and reflection -----------------------------------------------

    def recall(self, query: str, now: float, k: int | None = None) -> list[Entry]:
        """The k best entries for the query at simulated time now, best first.

        Recalled entries count as accessed at now, which refreshes their recency.
        """
        _check_time(now)
        k = self.config.top_k if k is None else k
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if not self._entries or k == 0:
            return []
        ids = list(self._entries)
        (query_vector,) = self._embed([query])
        vectors = np.stack([self._vectors[i] for i in ids]).astype(np.float64)
        query64 = query_vector.astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query64)
        relevance = np.divide(vectors @ query64, norms, out=np.zeros(len(ids)), where=norms > 0)
        c = self.config
        scores = (
            c.recency_weight * _min_max(self._recency(now, ids))
            + c.importance_weight * _min_max(np.array([self._entries[i].importance for i in ids]))
            + c.relevance_weight * _min_max(relevance)
        )
        # Stable sort: ties go to the older entry, so recall is deterministic.
        best = [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]
        self._touch(best, now)
        return [self._entries[i] for i in best]

    def reflection_due(self) -> bool:
        """Whether enough importance has been stored since the last reflection."""
        return self._since_reflection >= self.config.reflection_threshold

    def reflection_material(self, now: float) -> list[Entry]:
        """The most recent `reflection_window` entries, oldest first, to reflect on.

        Reading them rehearses them: they count as accessed at now.
        """
        _check_time(now)
        recent = list(self._entries.values())[-self.config.reflection_window :]
        self._touch([e.id for e in recent], now)
        return recent

    def explain(self, entry_id: int) -> list[Evidence]:
        """The insight's evidence chain, transitively, nearest first (then by id).

        Forgotten entries appear with their text and `forgotten=True`; the chain
        stops at a forgotten insight. An observation has no evidence.
        """
        if entry_id not in self._graph:
            raise KeyError(f"no entry {entry_id} in memory or in the evidence graph")
        depths = nx.single_source_shortest_path_length(self._graph, entry_id)
        chain = sorted((d, i) for i, d in depths.items() if i != entry_id)
        return [self._evidence(i, d) for d, i in chain]

    # -- checkpoint ----------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Plain data for a checkpoint; embeddings as little-endian float32 bytes."""
        ids = list(self._entries)
        vectors = (
            np.stack([self._vectors[i] for i in ids]).astype("<f4")
            if ids
            else np.zeros((0, self._dim or 0), dtype="<f4")
        )
        return {
            "version": _STATE_VERSION,
            "next_id": self._next_id,
            "since_reflection": self._since_reflection,
            "dim": self._dim,
            "entries": [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "text": e.text,
                    "t": e.t,
                    "importance": e.importance,
                    "evidence": list(e.evidence),
                    "last_access": self._last_access[e.id],
                }
                for e in self._entries.values()
            ],
            "embeddings": vectors.tobytes(),
            "tombstones": [
                {"id": i, **{key: data[key] for key in ("kind", "text", "t", "importance")}}
                for i, data in sorted(self._graph.nodes(data=True))
                if data.get("forgotten")
            ],
            "edges": sorted(self._graph.edges()),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly from `get_state`'s result."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported reflective memory state version {state.get('version')}")
        dim = state["dim"]
        rows = np.frombuffer(state["embeddings"], dtype="<f4").astype(np.float32)
        rows = rows.reshape(len(state["entries"]), dim or 0)
        self._entries, self._vectors, self._last_access = {}, {}, {}
        self._graph = nx.DiGraph()
        self._dim = dim
        for raw, vector in zip(state["entries"], rows, strict=True):
            entry = Entry(
                raw["id"],
                raw["kind"],
                raw["text"],
                raw["t"],
                raw["importance"],
                tuple(vector.tolist()),
                tuple(raw["evidence"]),
            )
            self._entries[entry.id] = entry
            self._vectors[entry.id] = vector.copy()
            self._last_access[entry.id] = raw["last_access"]
            self._graph.add_node(entry.id)
        for raw in state["tombstones"]:
            self._graph.add_node(
                raw["id"], forgotten=True, **{k: v for k, v in raw.items() if k != "id"}
            )
        self._graph.add_edges_from((a, b) for a, b in state["edges"])
        self._next_id = state["next_id"]
        self._since_reflection = state["since_reflection"]

    # -- internals -----------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        if self._embedder is None:
            self._embedder = default_embedder()
        vectors = np.asarray(self._embedder.embed(texts), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"embedder returned shape {vectors.shape} for {len(texts)} texts")
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            raise ValueError(
                f"embedder returned {vectors.shape[1]} dimensions; this memory holds {self._dim}"
            )
        return vectors

    def _add(
        self,
        kind: Kind,
        text: str,
        t: float,
        importance: float,
        evidence: tuple[int, ...],
        vector: np.ndarray,
    ) -> int:
        # Ids are never reused, so a tombstone's id always means the same entry.
        entry_id = self._next_id
        self._next_id += 1
        vector = vector.copy()
        self._entries[entry_id] = Entry(
            entry_id, kind, text, t, importance, tuple(vector.tolist()), evidence
        )
        self._vectors[entry_id] = vector
        self._last_access[entry_id] = t
        self._graph.add_node(entry_id)
        return entry_id

    def _touch(self, ids: list[int], now: float) -> None:
        for i in ids:
            # Never move an access back in time, whatever `now` a caller passes.
            self._last_access[i] = max(self._last_access[i], now)

    def _recency(self, now: float, ids: list[int]) -> np.ndarray:
        last = np.array([self._last_access[i] for i in ids])
        hours = np.maximum(now - last, 0.0) / 3600.0
        result: np.ndarray = np.exp(-math.log(2) / self.config.half_life_hours * hours)
        return result

    def _consolidate(self, now: float, protected: set[int]) -> None:
        excess = len(self._entries) - self.config.capacity
        if excess <= 0:
            return
        ids = list(self._entries)
        c = self.config
        retention = c.recency_weight * self._recency(now, ids) + c.importance_weight * np.array(
            [self._entries[i].importance for i in ids]
        )
        # Least retained first; ties go to the older entry.
        ranked = [ids[p] for p in np.lexsort((np.array(ids), retention))]
        queues: dict[str, list[int]] = {"observation": [], "insight": [], "protected": []}
        for i in ranked:
            queues["protected" if i in protected else self._entries[i].kind].append(i)
        insights = sum(e.kind == "insight" for e in self._entries.values())
        insight_limit = math.floor(c.max_insight_share * c.capacity)
        for _ in range(excess):
            if insights > insight_limit and queues["insight"]:
                queue = queues["insight"]  # insights would crowd out new observations
            else:
                queue = next(
                    queues[name] for name in ("observation", "insight", "protected") if queues[name]
                )
            victim = queue.pop(0)
            insights -= self._entries[victim].kind == "insight"
            self._forget(victim)

    def _forget(self, entry_id: int) -> None:
        entry = self._entries.pop(entry_id)
        del self._vectors[entry_id], self._last_access[entry_id]
        cited = list(self._graph.successors(entry_id))
        if self._graph.in_degree(entry_id) > 0:
            # Something remembered cites it: keep its text as a leaf tombstone.
            self._graph.remove_edges_from([(entry_id, s) for s in cited])
            self._graph.add_node(
                entry_id,
                forgotten=True,
                kind=entry.kind,
                text=entry.text,
                t=entry.t,
                importance=entry.importance,
            )
        else:
            self._graph.remove_node(entry_id)
        for node in cited:
            # A tombstone nobody remembered cites any more explains nothing.
            if self._graph.nodes[node].get("forgotten") and self._graph.in_degree(node) == 0:
                self._graph.remove_node(node)

    def _evidence(self, entry_id: int, depth: int) -> Evidence:
        if entry_id in self._entries:
            e = self._entries[entry_id]
            return Evidence(e.id, e.kind, e.text, e.t, depth, forgotten=False)
        data = self._graph.nodes[entry_id]
        return Evidence(entry_id, data["kind"], data["text"], data["t"], depth, forgotten=True)


def _check_time(t: float) -> None:
    if not math.isfinite(t):
        raise ValueError(f"simulated time must be finite, got {t}")


def _min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; all-equal values score 0.5, as in Generative Agents."""
    low, high = float(values.min()), float(values.max())
    if high - low <= 0.0:
        return np.full(len(values), 0.5)
    result: np.ndarray = (values - low) / (high - low)
    return result
