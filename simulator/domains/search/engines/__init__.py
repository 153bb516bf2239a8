"""Search engines by name: `--engine bm25`, `--arm reranked=bm25-minilm`."""

from __future__ import annotations

from simulator.core.registry import Registry
from simulator.core.rng import Streams
from simulator.domains.search.collection import Collection
from simulator.domains.search.engines.bm25 import BM25Engine, RerankedEngine
from simulator.domains.search.interfaces import SearchEngine

ENGINES: Registry[[Collection, Streams], SearchEngine] = Registry("search engine")


def _reranked(collection: Collection, streams: Streams) -> SearchEngine:
    from simulator.minds.embeddings import default_embedder

    return RerankedEngine(collection, default_embedder())


ENGINES.register("bm25", lambda collection, streams: BM25Engine(collection))
ENGINES.register("bm25-minilm", _reranked)

__all__ = ["ENGINES", "BM25Engine", "RerankedEngine"]
