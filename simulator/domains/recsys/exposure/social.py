"""A social graph for word of mouth: read from data, or built by homophily from taste.

The built graph is a degree-corrected latent-space model: each person has a
log-normal sociability weight w, and the m = n·mean_degree/2 edges are drawn
without replacement with probability ∝ w_i·w_j·exp(homophily·cos(taste_i, taste_j)).
Homophily makes friends alike (and, through shared neighbours, clustered);
the weights spread the degrees. Both are fitted on a real graph (Last.fm 2K)
by `simfolk bench social`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

MAX_PEOPLE = 20_000  # every pair is scored: n² / 2 of them


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.where(norms > 0, norms, 1.0)
    return unit


def homophily_graph(
    ids: Sequence[str],
    vectors: np.ndarray,
    *,
    mean_degree: float,
    homophily: float,
    sociability: float,
    rng: np.random.Generator,
) -> nx.Graph:
    """Draw a friendship graph over `ids` whose edges favour similar tastes.

    Args:
        ids: The people, one per row of `vectors`.
        vectors: Their taste vectors (cosine similarity is what counts).
        mean_degree: Friends per person on average (capped at n - 1).
        homophily: Weight of taste similarity in an edge's log-odds (0: none).
        sociability: Sd of the log-normal weight that makes some people have many friends.
        rng: The stream the graph is drawn from.

    Returns:
        An undirected graph with every id as a node.
    """
    n = len(ids)
    if n > MAX_PEOPLE:
        raise ValueError(
            f"a homophily graph over {n:,} people would weigh every pair; it is built for up "
            f"to {MAX_PEOPLE:,} (turn exposure off, or run a smaller population)"
        )
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    if n < 2:
        return graph
    unit = _unit_rows(np.asarray(vectors, dtype=np.float64))
    weight = sociability * rng.standard_normal(n)
    i, j = np.triu_indices(n, k=1)
    logits = homophily * np.einsum("ij,ij->i", unit[i], unit[j]) + weight[i] + weight[j]
    m = min(round(n * min(mean_degree, n - 1) / 2.0), len(i))
    # Gumbel top-m: m pairs drawn without replacement, each in proportion to exp(logit).
    keys = logits + rng.gumbel(size=len(i))
    chosen = np.argpartition(-keys, m - 1)[:m] if m > 0 else np.array([], dtype=np.int64)
    graph.add_edges_from((ids[a], ids[b]) for a, b in zip(i[chosen], j[chosen], strict=True))
    return graph


@dataclass(frozen=True)
class GraphStats:
    """The shape of a graph: size, degrees, clustering, mixing."""

    nodes: int
    edges: int
    mean_degree: float
    degree_cv: float  # sd / mean: how unequal the degrees are
    max_degree: int
    isolated_share: float
    clustering: float  # networkx average clustering
    transitivity: float
    assortativity: float | None  # degree assortativity (None: undefined)

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain data for JSON."""
        return asdict(self)


def graph_stats(graph: nx.Graph) -> GraphStats:
    """Measure a graph."""
    degrees = np.array([d for _, d in graph.degree()], dtype=np.float64)
    mean = float(degrees.mean()) if len(degrees) else 0.0
    assortativity: float | None = None
    try:
        with warnings.catch_warnings():  # a regular graph has no degree variance: undefined
            warnings.simplefilter("ignore", RuntimeWarning)
            value = float(nx.degree_assortativity_coefficient(graph))
        assortativity = value if np.isfinite(value) else None
    except (ValueError, ZeroDivisionError):
        pass
    return GraphStats(
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        mean_degree=mean,
        degree_cv=float(degrees.std() / mean) if mean > 0 else 0.0,
        max_degree=int(degrees.max()) if len(degrees) else 0,
        isolated_share=float((degrees == 0).mean()) if len(degrees) else 0.0,
        clustering=float(nx.average_clustering(graph)) if len(degrees) else 0.0,
        transitivity=float(nx.transitivity(graph)),
        assortativity=assortativity,
    )


def degree_ks(a: nx.Graph, b: nx.Graph) -> float:
    """Kolmogorov–Smirnov distance between two graphs' degree distributions."""
    da = np.sort([d for _, d in a.degree()])
    db = np.sort([d for _, d in b.degree()])
    grid = np.union1d(da, db)
    cdf_a = np.searchsorted(da, grid, side="right") / max(len(da), 1)
    cdf_b = np.searchsorted(db, grid, side="right") / max(len(db), 1)
    return float(np.max(np.abs(cdf_a - cdf_b))) if len(grid) else 0.0


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def taste_overlap(
    graph: nx.Graph,
    items: Mapping[str, frozenset[int]],
    rng: np.random.Generator,
    random_pairs: int = 20_000,
) -> dict[str, float]:
    """How much more friends' items overlap than strangers' (mean Jaccard, and the ratio).

    Args:
        graph: Who is friends with whom.
        items: Each person's items (people without any are left out).
        rng: The stream the random pairs are drawn from.
        random_pairs: How many random pairs stand for strangers.
    """
    people = sorted(p for p in graph.nodes if items.get(p))
    present = set(people)
    friends = [jaccard(items[a], items[b]) for a, b in graph.edges if a in present and b in present]
    a = rng.integers(0, len(people), size=random_pairs)
    b = rng.integers(0, len(people), size=random_pairs)
    keep = a != b
    strangers = [
        jaccard(items[people[x]], items[people[y]]) for x, y in zip(a[keep], b[keep], strict=True)
    ]
    f = float(np.mean(friends)) if friends else 0.0
    s = float(np.mean(strangers)) if strangers else 0.0
    return {"friends": f, "strangers": s, "lift": f / s if s > 0 else float("nan")}
