"""Systems under test, by name: `--target random|popularity|itemknn|als`."""

from __future__ import annotations

from collections.abc import Callable

from simulator.catalog import Catalog
from simulator.interfaces import Recommender
from simulator.rng import Streams
from simulator.targets.als import ALSRecommender
from simulator.targets.baselines import PopularityRecommender, RandomRecommender
from simulator.targets.itemknn import ItemKNNRecommender

_TARGETS: dict[str, Callable[[Catalog, Streams], Recommender]] = {
    "random": lambda catalog, streams: RandomRecommender(
        catalog, streams.generator("target:random", "recommend")
    ),
    "popularity": lambda catalog, streams: PopularityRecommender(catalog),
    "itemknn": lambda catalog, streams: ItemKNNRecommender(catalog),
    "als": lambda catalog, streams: ALSRecommender(
        catalog, streams.integer_seed("target:als", "fit")
    ),
}


def target_names() -> tuple[str, ...]:
    """Names `make_target` accepts."""
    return tuple(sorted(_TARGETS))


def check_target_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered target."""
    if name not in _TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of: {', '.join(target_names())}")


def make_target(name: str, catalog: Catalog, streams: Streams) -> Recommender:
    """Build an (unfitted) recommender by name, or say which names exist."""
    check_target_name(name)
    return _TARGETS[name](catalog, streams)


__all__ = ["check_target_name", "make_target", "target_names"]
