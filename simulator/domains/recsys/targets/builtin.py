"""The recommenders that come with simfolk, registered by name."""

from __future__ import annotations

from collections.abc import Callable

from simulator.core.registry import Registry
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Recommender
from simulator.domains.recsys.targets.baselines import (
    GenreRecommender,
    NewestRecommender,
    PopularityRecommender,
    RandomRecommender,
    RecentPopularityRecommender,
)
from simulator.domains.recsys.targets.cornac_models import CornacRecommender
from simulator.domains.recsys.targets.factorization import ImplicitRecommender, PureSVDRecommender
from simulator.domains.recsys.targets.itemknn import ItemKNNRecommender

TARGETS: Registry[[Catalog, Streams], Recommender] = Registry("target")
FAMILIES: dict[str, str] = {}


def _register(name: str, family: str, factory: Callable[[Catalog, Streams], Recommender]) -> None:
    TARGETS.register(name, factory)
    FAMILIES[name] = family


def _implicit(name: str, model: str, **params: float) -> Callable[[Catalog, Streams], Recommender]:
    def make(catalog: Catalog, streams: Streams) -> Recommender:
        seed = streams.integer_seed(f"target:{name}", "fit")
        return ImplicitRecommender(catalog, seed, model, name, **params)

    return make


def _cornac(name: str, model: str, **params: float) -> Callable[[Catalog, Streams], Recommender]:
    def make(catalog: Catalog, streams: Streams) -> Recommender:
        seed = streams.integer_seed(f"target:{name}", "fit")
        return CornacRecommender(catalog, seed, model, name, **params)

    return make


def _knn(name: str, neighbours: int) -> Callable[[Catalog, Streams], Recommender]:
    return lambda catalog, streams: ItemKNNRecommender(catalog, neighbours=neighbours, name=name)


_register("random", "baseline", RandomRecommender)
_register("popularity", "baseline", lambda catalog, streams: PopularityRecommender(catalog))
_register(
    "popularity-recent", "baseline", lambda catalog, streams: RecentPopularityRecommender(catalog)
)
_register("newest", "baseline", lambda catalog, streams: NewestRecommender(catalog))
_register("genre", "content", lambda catalog, streams: GenreRecommender(catalog))
_register("itemknn", "cf", lambda catalog, streams: ItemKNNRecommender(catalog))
_register("itemknn-k10", "cf", _knn("itemknn-k10", 10))
_register("itemknn-k200", "cf", _knn("itemknn-k200", 200))
_register("als", "cf", _implicit("als", "als", factors=32, regularization=0.05, iterations=15))
_register("als-f8", "cf", _implicit("als-f8", "als", factors=8, regularization=0.05, iterations=15))
_register(
    "als-f128", "cf", _implicit("als-f128", "als", factors=128, regularization=0.05, iterations=15)
)
_register("bpr", "cf", _implicit("bpr", "bpr", factors=64, iterations=100))
_register("lmf", "cf", _implicit("lmf", "lmf", factors=30, iterations=30))
_register("puresvd", "cf", lambda catalog, streams: PureSVDRecommender(catalog, factors=64))
# Rating models from a second library (cornac, an optional extra).
_register(
    "cornac-mf",
    "cf",
    _cornac("cornac-mf", "mf", k=32, max_iter=30, learning_rate=0.01, lambda_reg=0.02),
)
_register("cornac-nmf", "cf", _cornac("cornac-nmf", "nmf", k=16, max_iter=60, use_bias=True))


def target_names() -> tuple[str, ...]:
    """Names registered (built in, or by a scenario)."""
    return TARGETS.names()


__all__ = ["FAMILIES", "TARGETS", "target_names"]
