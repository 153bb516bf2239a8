"""Every stateful module round-trips through get_state/set_state (what makes resume exact)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from personas.builder import build_personas
from simulator.core.rng import Streams
from simulator.core.statecodec import decode, encode
from simulator.domains.recsys.targets import make_target
from simulator.domains.recsys.world import World
from simulator.minds.memory import EpisodicMemory, MemoryConfig, MemoryEntry
from simulator.trace import TraceWriter


def same(a, b) -> bool:
    """Deep equality that understands numpy arrays and sparse matrices."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if sp.issparse(a):
        return sp.issparse(b) and (a != b).nnz == 0
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return bool(a == b)


def make_world(prepared, train, small_config, tmp_path, target="itemknn"):
    config = small_config.model_copy(update={"target": target})
    users = sorted(set(train["user"].cast(int).to_list()))[:6]
    personas = build_personas(
        prepared.dataset, prepared.split.train, users, space=prepared.space, split_label="t"
    )
    model = make_target(target, prepared.catalog, Streams(config.seed))
    model.fit(train)
    return World(
        config=config,
        personas=personas,
        catalog=prepared.catalog,
        target=model,
        train=train,
        rating_scale=prepared.dataset.rating_scale,
        trace=TraceWriter(tmp_path),
        streams=Streams(config.seed),
    )


def _memory(prepared, train, small_config, tmp_path):
    memory = EpisodicMemory(MemoryConfig(capacity=4))
    for i in range(6):
        memory.store(MemoryEntry(t=i, item_id=i, rating=3, importance=0.1 * i, features=(1.0,)), i)
    return memory, lambda: EpisodicMemory(MemoryConfig(capacity=4))


def _target(name):
    def build(prepared, train, small_config, tmp_path):
        world = make_world(prepared, train, small_config, tmp_path, target=name)
        world.run(until_day=1)
        fresh = make_target(name, prepared.catalog, Streams(123))
        return world.target, lambda: fresh

    return build


def _agent(prepared, train, small_config, tmp_path):
    world = make_world(prepared, train, small_config, tmp_path / "a")
    world.run(until_day=1)
    other = make_world(prepared, train, small_config, tmp_path / "b")
    return world.population[0], lambda: other.population[0]


def _world(prepared, train, small_config, tmp_path):
    world = make_world(prepared, train, small_config, tmp_path / "a")
    world.run(until_day=1)
    world.trace.flush()
    return world, lambda: make_world(prepared, train, small_config, tmp_path / "b")


CASES = {
    "memory": _memory,
    "target:random": _target("random"),
    "target:popularity": _target("popularity"),
    "target:itemknn": _target("itemknn"),
    "target:als": _target("als"),
    "target:cornac-mf": _target("cornac-mf"),
    "agent": _agent,
    "world": _world,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_round_trips(case, prepared, train, small_config, tmp_path):
    module, fresh = CASES[case](prepared, train, small_config, tmp_path)
    state = module.get_state()
    clone = fresh()
    clone.set_state(decode(encode(state)))  # what a checkpoint does with it
    assert same(clone.get_state(), state)


def test_trace_state_needs_a_flush(tmp_path):
    from simulator.trace import EventKind

    writer = TraceWriter(tmp_path)
    writer.emit(0.0, EventKind.REFIT, target="x")
    with pytest.raises(RuntimeError, match="flush"):
        writer.get_state()
    writer.flush()
    assert writer.get_state() == {"next_seq": 1, "next_part": 1}
