"""Systems under test, by name: `--target random|popularity|itemknn|als`."""

from __future__ import annotations

from simulator.catalog import Catalog
from simulator.interfaces import Recommender
from simulator.registry import Registry
from simulator.rng import Streams
from simulator.targets.als import ALSRecommender
from simulator.targets.baselines import PopularityRecommender, RandomRecommender
from simulator.targets.itemknn import ItemKNNRecommender

TARGETS: Registry[[Catalog, Streams], Recommender] = Registry("target")
TARGETS.register("random", RandomRecommender)
TARGETS.register("popularity", lambda catalog, streams: PopularityRecommender(catalog))
TARGETS.register("itemknn", lambda catalog, streams: ItemKNNRecommender(catalog))
TARGETS.register(
    "als",
    lambda catalog, streams: ALSRecommender(catalog, streams.integer_seed("target:als", "fit")),
)


def target_names() -> tuple[str, ...]:
    """Names `make_target` accepts."""
    return TARGETS.names()


def check_target_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered target."""
    TARGETS.check(name)


def make_target(name: str, catalog: Catalog, streams: Streams) -> Recommender:
    """Build an (unfitted) recommender by name, or say which names exist."""
    return TARGETS.make(name, catalog, streams)


__all__ = ["TARGETS", "check_target_name", "make_target", "target_names"]
