"""Crowds side by side: in this process, or as Ray actors on one machine or many.

A run with `shards` S cuts the population into S contiguous crowds. Each has
its own copy of the target, built from the registry by name, and the world
fits every copy on the same interactions at every refit; between refits a copy
hears only its own personas. So the pages are the ones a single target would
give exactly when a user's page depends only on the model and that user's own
history -- true of every built-in recommender (`random` draws from a stream
keyed by the user). A target that learns from everyone's clicks as they happen,
or keeps one shared stream of draws, is run with `shards` 1, or behind the HTTP
route so every shard asks the one service.

Ray is an extra (`pip install simfolk[ray]`): `ray.init()` joins the cluster
that `RAY_ADDRESS` names (`ray start --head`, then `ray start --address=...`
on each other machine), or starts a local one.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import polars as pl

from personas.datasets import RatingScale
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.columnar.crowd import Crowd, RoundResult
from simulator.domains.recsys.columnar.population import PopulationArrays
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.interfaces import TargetError


class Shards(Protocol):
    """The crowds of a run, taken together (each method: every crowd's, in order)."""

    def first_arrivals(self) -> None:
        """Draw every persona's first step."""

    def round(self, end: float) -> list[RoundResult]:
        """One round of every crowd with anyone due, in population order."""
        ...

    def fit(self, interactions: pl.DataFrame) -> None:
        """Refit every copy of the target."""

    def in_session(self) -> int:
        """Personas in a session now."""
        ...

    def get_state(self) -> list[dict[str, Any]]:
        """Each crowd's state."""
        ...

    def set_state(self, states: list[dict[str, Any]]) -> None:
        """Continue each crowd from its state."""

    def close(self) -> None:
        """Let go of workers."""


def bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal slices of n personas."""
    edges = np.linspace(0, n, shards + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def make_shards(
    config: RunConfig,
    catalog: Catalog,
    arrays: PopulationArrays,
    rating_scale: RatingScale | None,
    target: Any,
    streams: Streams,
) -> Shards:
    """One crowd with the run's target, or `config.shards` crowds each with its own copy."""
    if config.shards == 1:
        return LocalShards([Crowd(config, catalog, arrays, rating_scale, target)])
    parts = bounds(len(arrays), config.shards)
    if config.shard_on == "ray":
        return RayShards(config, catalog, arrays, rating_scale, parts, streams.root_seed)
    crowds = [
        Crowd(config, catalog, arrays.slice(lo, hi), rating_scale,
              _copy_of_target(config, catalog, streams.root_seed), offset=lo)
        for lo, hi in parts
    ]  # fmt: skip
    return LocalShards(crowds)


def _copy_of_target(config: RunConfig, catalog: Catalog, seed: int) -> Any:
    from simulator.domains.recsys.targets import make_target

    return make_target(config.target, catalog, Streams(seed))


class LocalShards:
    """Crowds stepped one after another in this process."""

    def __init__(self, crowds: list[Crowd]) -> None:
        self.crowds = crowds

    def first_arrivals(self) -> None:
        """Draw every persona's first step."""
        for crowd in self.crowds:
            crowd.first_arrivals()

    def round(self, end: float) -> list[RoundResult]:
        """One round of every crowd with anyone due, in population order."""
        return [r for crowd in self.crowds if (r := crowd.round(end)) is not None]

    def fit(self, interactions: pl.DataFrame) -> None:
        """Refit every copy of the target."""
        for crowd in self.crowds:
            crowd.fit(interactions)

    def in_session(self) -> int:
        """Personas in a session now."""
        return sum(crowd.in_session() for crowd in self.crowds)

    def get_state(self) -> list[dict[str, Any]]:
        """Each crowd's state."""
        return [crowd.get_state() for crowd in self.crowds]

    def set_state(self, states: list[dict[str, Any]]) -> None:
        """Continue each crowd from its state."""
        _check_count(states, len(self.crowds))
        for crowd, state in zip(self.crowds, states, strict=True):
            crowd.set_state(state)

    def close(self) -> None:
        """Let go of workers."""
        return None


def _check_count(states: list[dict[str, Any]], shards: int) -> None:
    if len(states) != shards:
        raise ValueError(
            f"the checkpoint holds {len(states)} shards and this run has {shards}: "
            f"resume with --shards {len(states)}"
        )


class _CrowdActor:
    """A crowd in a Ray worker; a target's failure comes back as data, not a Ray error."""

    def __init__(
        self, config: RunConfig, catalog: Catalog, arrays: PopulationArrays,
        rating_scale: RatingScale | None, offset: int, seed: int,
    ) -> None:  # fmt: skip
        target = _copy_of_target(config, catalog, seed)
        self.crowd = Crowd(config, catalog, arrays, rating_scale, target, offset=offset)

    def call(self, method: str, *args: Any) -> Any:
        try:
            return ("ok", getattr(self.crowd, method)(*args))
        except TargetError as error:
            return ("target_error", (str(error), error.reason))


class RayShards:
    """Crowds as Ray actors, asked together each round."""

    def __init__(
        self, config: RunConfig, catalog: Catalog, arrays: PopulationArrays,
        rating_scale: RatingScale | None, parts: list[tuple[int, int]], seed: int,
    ) -> None:  # fmt: skip
        try:
            import ray
        except ImportError:
            raise ValueError(
                "--shards with shard_on 'ray' needs Ray: pip install 'simfolk[ray]' "
                "(or shard_on 'process' to run the shards in this process)"
            ) from None
        self.ray = ray
        self.started = not ray.is_initialized()  # then ours to shut down at the end
        if self.started:
            ray.init(include_dashboard=False, log_to_driver=False)
        actor = ray.remote(num_cpus=1)(_CrowdActor)
        shared = ray.put(catalog)
        self.actors: list[Any] = [
            actor.remote(config, shared, arrays.slice(lo, hi), rating_scale, lo, seed)
            for lo, hi in parts
        ]

    def _all(self, method: str, *args: Any) -> list[Any]:
        answers = self.ray.get([a.call.remote(method, *args) for a in self.actors])
        for status, value in answers:
            if status == "target_error":
                raise TargetError(value[0], reason=value[1])
        return [value for _, value in answers]

    def first_arrivals(self) -> None:
        """Draw every persona's first step."""
        self._all("first_arrivals")

    def round(self, end: float) -> list[RoundResult]:
        """One round of every crowd with anyone due, in population order."""
        return [r for r in self._all("round", end) if r is not None]

    def fit(self, interactions: pl.DataFrame) -> None:
        """Refit every copy of the target."""
        self._all("fit", self.ray.put(interactions))

    def in_session(self) -> int:
        """Personas in a session now."""
        return sum(self._all("in_session"))

    def get_state(self) -> list[dict[str, Any]]:
        """Each crowd's state."""
        return self._all("get_state")

    def set_state(self, states: list[dict[str, Any]]) -> None:
        """Continue each crowd from its state."""
        _check_count(states, len(self.actors))
        pairs = zip(self.actors, states, strict=True)
        self.ray.get([actor.call.remote("set_state", state) for actor, state in pairs])

    def close(self) -> None:
        """Let go of workers."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()
            self.started = False
