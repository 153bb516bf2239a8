"""The reflective memory stream: bounds, evidence, reflection, simulated time, checkpoints."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.core.statecodec import decode, encode
from simulator.minds.embeddings import default_embedder
from simulator.minds.reflective_memory import ReflectiveMemory
from simulator.minds.reflective_types import Insight, Insights, ReflectiveMemoryConfig

HOUR = 3600.0


class BagOfWords:
    """A fast deterministic embedder: words hashed into 16 buckets (crc32 is not salted)."""

    dim = 16

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out


def memory(**config: float) -> ReflectiveMemory:
    return ReflectiveMemory(ReflectiveMemoryConfig(**config), embedder=BagOfWords())  # type: ignore[arg-type]


WORDS = ["horror", "comedy", "drama", "space", "dog", "jazz", "war", "heist", "love", "ocean"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("store"), texts, st.floats(0, 1)),
        st.tuples(st.just("reflect"), st.lists(texts, min_size=1, max_size=3), st.integers(1, 5)),
        st.tuples(st.just("recall"), texts, st.integers(0, 6)),
    ),
    max_size=40,
)


def run(mem: ReflectiveMemory, steps: list[tuple], start: float, seed: int) -> list[list[int]]:
    """Apply steps an hour apart; returns every recall's ids. Draws come from `seed`."""
    rng = np.random.default_rng(seed)
    recalled = []
    for n, (op, arg, extra) in enumerate(steps):
        now = start + n * HOUR
        if op == "store":
            mem.store(arg, now, extra)
        elif op == "reflect" and len(mem):
            live = [e.id for e in mem.entries]
            insights = [
                Insight(text=text, evidence=rng.choice(live, size=min(extra, len(live))).tolist())
                for text in arg
            ]
            mem.add_insights(insights, now)
        elif op == "recall":
            recalled.append([e.id for e in mem.recall(arg, now, k=extra)])
        assert len(mem) <= mem.config.capacity
    return recalled


@settings(max_examples=60, deadline=None)
@given(steps=ops, capacity=st.integers(1, 8))
def test_capacity_is_never_exceeded_and_the_graph_stays_consistent(steps, capacity) -> None:
    mem = memory(capacity=capacity)
    run(mem, steps, start=0.0, seed=1)
    graph = mem.graph
    live = {e.id for e in mem.entries}
    tombstones = {n for n, data in graph.nodes(data=True) if data.get("forgotten")}
    assert set(graph.nodes) == live | tombstones
    assert live.isdisjoint(tombstones)
    assert nx.is_directed_acyclic_graph(graph)
    for node in tombstones:
        # A tombstone is a leaf that something remembered still cites.
        assert graph.out_degree(node) == 0
        assert any(p in live for p in graph.predecessors(node))
    for entry in mem.entries:
        assert set(graph.successors(entry.id)) == set(entry.evidence)
        for link in mem.explain(entry.id):
            assert link.forgotten == (link.id in tombstones)


@settings(max_examples=40, deadline=None)
@given(before=ops, after=ops, capacity=st.integers(1, 10))
def test_state_round_trip_gives_the_same_future(before, after, capacity) -> None:
    original = memory(capacity=capacity)
    run(original, before, start=0.0, seed=2)
    restored = memory(capacity=capacity)
    restored.set_state(decode(encode(original.get_state())))
    assert restored.get_state() == original.get_state()
    start = len(before) * HOUR
    assert run(restored, after, start, seed=3) == run(original, after, start, seed=3)
    assert restored.get_state() == original.get_state()
    assert restored.entries == original.entries


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | bytes | int | float | bool)


def test_its_state_is_plain_data() -> None:
    mem = memory(capacity=3)
    steps = [("store", "space dog", 0.9), ("store", "jazz war", 0.2), ("reflect", ["dog"], 1)]
    run(mem, steps, start=0.0, seed=1)
    assert mem.entries and _plain(mem.get_state())


def test_insights_cite_only_remembered_entries() -> None:
    mem = memory(capacity=2)
    first = mem.store("dog film", 0.0, 0.1)
    mem.store("jazz film", 1.0, 0.9)
    mem.store("war film", 2.0, 0.9)  # forgets the dog film, the least retained
    assert first not in mem
    before = mem.get_state()
    with pytest.raises(ValueError, match="cites entry 99, which does not exist"):
        mem.add_insights([Insight(text="likes music", evidence=[1, 99])], 3.0)
    with pytest.raises(ValueError, match=f"cites entry {first}, which was forgotten"):
        mem.add_insights([Insight(text="likes dogs", evidence=[first])], 3.0)
    assert mem.get_state() == before  # a refused reflection changes nothing


def test_insight_importance_and_forgotten_evidence_stays_explainable() -> None:
    mem = memory(capacity=3, insight_bonus=0.1)
    jazz = mem.store("jazz biopic", 0.0, 0.2)
    war = mem.store("war epic", HOUR, 0.4)
    (insight,) = mem.add_insights([Insight(text="likes period films", evidence=[jazz, war])], HOUR)
    assert mem.get(insight).importance == pytest.approx(0.4)
    mem.store("space opera", 2 * HOUR, 0.9)  # over capacity: the jazz observation goes first
    assert jazz not in mem and insight in mem
    chain = {link.id: link for link in mem.explain(insight)}
    assert chain[jazz].forgotten and chain[jazz].text == "jazz biopic"
    assert not chain[war].forgotten
    # Citing a forgotten entry is refused with its own reason.
    with pytest.raises(ValueError, match="was forgotten"):
        mem.add_insights([Insight(text="x", evidence=[jazz])], 3 * HOUR)


def test_explain_is_transitive() -> None:
    mem = memory()
    a = mem.store("horror night", 0.0, 0.5)
    b = mem.store("ghost story", 0.0, 0.5)
    (low,) = mem.add_insights([Insight(text="likes horror", evidence=[a, b])], HOUR)
    c = mem.store("space opera", 2 * HOUR, 0.5)
    (high,) = mem.add_insights([Insight(text="likes genre films", evidence=[low, c])], 3 * HOUR)
    assert [(e.id, e.depth) for e in mem.explain(high)] == [(low, 1), (c, 1), (a, 2), (b, 2)]
    assert mem.explain(a) == []
    with pytest.raises(KeyError):
        mem.explain(1234)


def test_reflection_is_due_after_enough_importance() -> None:
    mem = memory(reflection_threshold=1.0, reflection_window=3)
    ids = [mem.store(f"film {i}", i * HOUR, 0.3) for i in range(3)]
    assert not mem.reflection_due()  # 0.9
    ids.append(mem.store("film 3", 3 * HOUR, 0.3))
    assert mem.reflection_due()  # 1.2
    material = mem.reflection_material(4 * HOUR)
    assert [e.id for e in material] == ids[-3:]
    mem.add_insights([Insight(text="watches a lot", evidence=ids[-3:])], 4 * HOUR)
    assert not mem.reflection_due()  # the accumulator restarts; insights do not feed it


def test_empty_reflection_resets_the_accumulator() -> None:
    mem = memory(reflection_threshold=0.5)
    mem.store("film", 0.0, 0.9)
    assert mem.reflection_due()
    assert mem.add_insights([], HOUR) == []
    assert not mem.reflection_due()


def test_recency_follows_simulated_time_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_wall_clock() -> float:
        raise AssertionError("the memory read the wall clock")

    monkeypatch.setattr(time, "time", no_wall_clock)
    monkeypatch.setattr(time, "monotonic", no_wall_clock)
    # Only recency counts: which entry wins depends on the simulated `now` alone.
    config = {"importance_weight": 0.0, "relevance_weight": 0.0}
    mem = memory(**config)
    old = mem.store("dog film", 0.0, 0.5)
    new = mem.store("dog film", 100 * HOUR, 0.5)
    assert [e.id for e in mem.recall("dog", now=101 * HOUR, k=2)] == [new, old]
    # Recalling refreshes: both now count as accessed at 110 h, so they tie on recency
    # and the tie goes to the older entry.
    mem.recall("dog", now=110 * HOUR, k=2)
    assert [e.id for e in mem.recall("dog", now=120 * HOUR, k=2)] == [old, new]


def test_recency_decays_with_the_half_life() -> None:
    mem = memory(half_life_hours=10.0)
    mem.store("film", 0.0, 0.5)
    recency = mem._recency(20 * HOUR, [0])  # two half-lives later
    assert recency[0] == pytest.approx(0.25)
    assert mem._recency(40 * HOUR, [0])[0] < recency[0]


def test_recall_weighs_relevance() -> None:
    mem = memory(recency_weight=0.0, importance_weight=0.0)
    ids = {word: mem.store(f"{word} film", 0.0, 0.5) for word in WORDS}
    assert mem.recall("heist", now=0.0, k=1)[0].id == ids["heist"]
    assert len(mem.recall("heist", now=0.0)) == mem.config.top_k
    assert mem.recall("heist", now=0.0, k=0) == []


def test_recall_with_the_real_embedder() -> None:
    mem = ReflectiveMemory(embedder=default_embedder())
    notes = [
        "Loved the haunted house film, genuinely scary.",
        "The romantic comedy in Paris was sweet.",
        "Fell asleep during the ocean documentary.",
    ]
    ids = [mem.store(text, 0.0, 0.5) for text in notes]
    assert mem.recall("a frightening ghost movie", now=HOUR, k=1)[0].id == ids[0]
    assert len(mem.get(ids[0]).embedding) == 384


def test_insight_schema_is_closed_and_bounded() -> None:
    schema = Insights.model_json_schema()
    assert schema["additionalProperties"] is False
    insight = schema["$defs"]["Insight"]
    assert insight["additionalProperties"] is False
    assert insight["properties"]["text"]["maxLength"] == 200
    assert insight["properties"]["evidence"]["maxItems"] == 5
    assert schema["properties"]["insights"]["maxItems"] == 3
    parsed = Insights.model_validate_json('{"insights": [{"text": " x ", "evidence": [3, 3, 1]}]}')
    assert parsed.insights[0].text == "x" and parsed.insights[0].evidence == [3, 1]
    for bad in (
        '{"insights": []}',
        '{"insights": [{"text": "x", "evidence": []}]}',
        '{"insights": [{"text": "   ", "evidence": [1]}]}',
        '{"insights": [{"text": "x", "evidence": [1], "why": "?"}]}',
        '{"insights": [{"text": "' + "x" * 201 + '", "evidence": [1]}]}',
    ):
        with pytest.raises(ValidationError):
            Insights.model_validate_json(bad)


def test_bad_inputs_are_refused() -> None:
    mem = memory()
    with pytest.raises(ValueError, match="importance"):
        mem.store("x", 0.0, 1.5)
    with pytest.raises(ValueError, match="finite"):
        mem.store("x", float("nan"), 0.5)


def test_insights_past_their_share_are_forgotten_first() -> None:
    mem = memory(capacity=4, max_insight_share=0.5)
    seen = [mem.store(f"film {i}", 0.0, 0.5) for i in range(2)]
    mem.add_insights([Insight(text=f"taste {i}", evidence=seen) for i in range(2)], HOUR)
    kinds = lambda: [e.kind for e in mem.entries]  # noqa: E731
    mem.store("film 2", 2 * HOUR, 0.0)  # insights hold 2 of 4: an observation goes
    assert kinds().count("insight") == 2
    mem.add_insights([Insight(text="taste 2", evidence=[seen[1]])], 3 * HOUR)
    # Three insights would pass half the capacity: an older insight goes instead.
    assert kinds().count("insight") == 2 and len(mem) == 4
    assert mem.entries[-1].text == "taste 2"
