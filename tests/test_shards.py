"""Shards: the columnar engine's population cut into crowds writes the same events as one."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.domains.recsys.columnar.shards import bounds
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate


@pytest.fixture(scope="module")
def config(small_config: RunConfig) -> RunConfig:
    # Past the split's users (sampled personas too), with refits: every path a shard takes.
    return small_config.model_copy(
        update={"personas": 90, "days": 2, "target": "itemknn", "engine": "columnar",
                "part_rows": 1500, "calibrate": False}
    )  # fmt: skip


@pytest.fixture(scope="module")
def one_crowd(  # type: ignore[no-untyped-def]
    config: RunConfig, tmp_path_factory: pytest.TempPathFactory, prepared
) -> Path:
    out = tmp_path_factory.mktemp("shards") / "one"
    simulate(config, out, prepared=prepared)
    return out


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    """A local Ray cluster with two workers, for the module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_shards_cover_the_population_in_order(n: int, shards: int) -> None:
    parts = bounds(n, shards)
    assert len(parts) == shards
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in pairwise(parts))
    sizes = [hi - lo for lo, hi in parts]
    assert max(sizes) - min(sizes) <= 1


def test_shards_in_process_write_the_same_files(  # type: ignore[no-untyped-def]
    config, one_crowd, tmp_path, event_digests, prepared
) -> None:
    sharded = config.model_copy(update={"shards": 3, "shard_on": "process"})
    simulate(sharded, tmp_path / "three", prepared=prepared)
    assert event_digests(tmp_path / "three") == event_digests(one_crowd)
    assert len(event_digests(one_crowd)) >= 2  # several parts: the cut at part_rows holds


def test_two_ray_workers_paused_and_resumed_write_one_crowds_files(  # type: ignore[no-untyped-def]
    config, one_crowd, tmp_path, event_digests, local_ray
) -> None:
    # Stopped after a day, then resumed: each actor continues from its checkpointed crowd,
    # and the files are still one crowd's.
    on_ray = config.model_copy(update={"shards": 2, "shard_on": "ray"})
    simulate(on_ray, tmp_path / "paused", until_day=1)
    # A paused run goes on with the shards it started with, as the checkpoint holds them.
    other = on_ray.model_copy(update={"shards": 3})
    with pytest.raises(ValueError, match="differs in: shards"):
        simulate(other, tmp_path / "paused", resume=True)
    resumed = simulate(on_ray, tmp_path / "paused", resume=True)
    assert resumed.resumed and resumed.complete
    assert event_digests(tmp_path / "paused") == event_digests(one_crowd)
    assert not local_ray.util.list_named_actors()  # nothing left running under a name


@pytest.mark.parametrize(
    ("update", "match"),
    [({"engine": "agents"}, "--engine columnar"), ({"shard_on": "cluster"}, "shard_on")],
)
def test_what_shards_cannot_run_is_refused(config, tmp_path, update, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        bad = RunConfig.model_validate({**config.model_dump(), "shards": 2, **update})
        simulate(bad, tmp_path / "run")
    assert not (tmp_path / "run" / "events").exists()
