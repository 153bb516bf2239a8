"""BM25 over the collection (bm25s), and BM25 re-ranked by MiniLM sentence embeddings."""

from __future__ import annotations

from typing import Any

import bm25s
import numpy as np

from simulator.domains.search.collection import Collection
from simulator.domains.search.interfaces import SearchClick, SearchContext, SearchResult
from simulator.minds.embeddings import TextEmbedder

_STOPWORDS = "en"


def _tokens(texts: list[str]) -> Any:
    return bm25s.tokenize(texts, stopwords=_STOPWORDS, show_progress=False)


class BM25Engine:
    """Okapi BM25 (Lucene's variant, k1 = 1.5, b = 0.75) over titles and snippets.

    Ties are broken by the collection's order, so a query always gets the
    same page. Clicks are heard and ignored: BM25 does not learn.
    """

    name = "bm25"

    def __init__(self, collection: Collection, k1: float = 1.5, b: float = 0.75) -> None:
        self.collection = collection
        self._index = bm25s.BM25(k1=k1, b=b)
        self._index.index(_tokens(collection.texts()), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (0 where no term matches)."""
        words = bm25s.tokenize([query], stopwords=_STOPWORDS, return_ids=False, show_progress=False)
        known = [w for w in words[0] if w in self._index.vocab_dict]
        if not known:
            return np.zeros(len(self.collection))
        return np.asarray(self._index.get_scores(known), dtype=np.float64)

    def ranked(self, query: str, k: int) -> np.ndarray:
        """Indices of the top `k` documents with a positive score, best first."""
        return _top(self.scores(query), k)

    def search(self, query: str, k: int, context: SearchContext) -> list[SearchResult]:
        """The top `k` documents for `query`."""
        return [self.collection.result(int(i)) for i in self.ranked(query, k)]

    def feedback(self, click: SearchClick) -> None:
        """BM25 does not learn from clicks."""

    def get_state(self) -> dict[str, Any]:
        """Nothing changes after the index is built."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


class RerankedEngine(BM25Engine):
    """BM25's top `depth`, re-ordered by `weight`·cosine(query, document) + BM25 (scaled to 0–1).

    The embedder is simfolk's MiniLM (int8 ONNX, on the CPU). Documents are
    embedded by their titles (a snippet where there is none), once, when the
    engine is built: whole snippets cost ten times as much on a CPU.
    """

    name = "bm25-minilm"

    def __init__(
        self, collection: Collection, embedder: TextEmbedder, depth: int = 50, weight: float = 1.0
    ) -> None:
        super().__init__(collection)
        self.embedder, self.depth, self.weight = embedder, depth, weight
        titles = [t or s for t, s in zip(collection.titles, collection.snippets, strict=True)]
        self._vectors = _unit(embedder.embed(titles))
        self._queries: dict[str, np.ndarray] = {}

    def ranked(self, query: str, k: int) -> np.ndarray:
        """BM25's top `depth`, re-ranked; the top `k` of them."""
        scores = self.scores(query)
        first = _top(scores, self.depth)
        if len(first) == 0:
            return first
        if query not in self._queries:
            self._queries[query] = _unit(self.embedder.embed([query]))[0]
        cosine = self._vectors[first] @ self._queries[query]
        combined = self.weight * cosine + scores[first] / scores[first].max()
        order = np.lexsort((first, -combined))
        return first[order][:k]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    # Ties by the collection's order, so a query always gets the same page.
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[: min(k, int((scores > 0).sum()))]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float64)
