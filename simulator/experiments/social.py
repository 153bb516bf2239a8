"""`simfolk bench social`: does a graph built by homophily look like a real friendship graph?

On Last.fm 2K (real friendships and play counts) each user's artists are split
in half at random. Taste vectors come from a truncated SVD of log plays on the
first half. The homophily graph's two free weights (homophily, sociability)
are fitted on that half only — matching the real graph's friends-vs-strangers
overlap lift there, its degree spread and its clustering — with the real mean
degree. The check is the second half: do friends in the built graph share
artists they were never fitted on as much as real friends do? The graph with
no homophily (same degrees) shows what homophily adds.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import networkx as nx
import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from personas.datasets.lastfm import NAME, LastFM, load_lastfm
from simulator.core.rng import Streams
from simulator.domains.recsys.exposure.social import (
    degree_ks,
    graph_stats,
    homophily_graph,
    taste_overlap,
)

HOMOPHILY_GRID = (0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0)
SOCIABILITY_GRID = (0.0, 0.5, 1.0, 1.5)
TASTE_DIMS = 16


def split_halves(
    plays: pl.DataFrame, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each user's artists in two random halves (a user with one artist keeps it in the first)."""
    keyed = plays.with_columns(pl.Series("u", rng.random(plays.height))).with_columns(
        pl.col("u").rank("ordinal").over("user_id").alias("r"), pl.len().over("user_id").alias("n")
    )
    first = keyed.filter(pl.col("r") <= (pl.col("n") + 1) // 2).drop("u", "r", "n")
    second = keyed.filter(pl.col("r") > (pl.col("n") + 1) // 2).drop("u", "r", "n")
    return first, second


def taste_vectors(plays: pl.DataFrame, users: list[int], dims: int = TASTE_DIMS) -> np.ndarray:
    """Users' rows of a truncated SVD of log(1 + plays), scaled by the singular values."""
    artists = np.unique(plays["artist_id"].to_numpy())
    row_of = {u: i for i, u in enumerate(users)}
    rows = np.array([row_of[u] for u in plays["user_id"].to_list()])
    cols = np.searchsorted(artists, plays["artist_id"].to_numpy())
    matrix = sp.csr_matrix(
        (np.log1p(plays["plays"].to_numpy().astype(np.float64)), (rows, cols)),
        shape=(len(users), len(artists)),
    )
    u, s, _ = svds(matrix, k=min(dims, min(matrix.shape) - 1), random_state=0)
    vectors: np.ndarray = u * s
    return vectors


def _items(plays: pl.DataFrame) -> dict[str, frozenset[int]]:
    return {
        str(u): frozenset(frame["artist_id"].to_list())
        for (u,), frame in plays.partition_by("user_id", as_dict=True).items()
    }


def _describe(
    graph: nx.Graph,
    real: nx.Graph,
    halves: tuple[dict[str, frozenset[int]], dict[str, frozenset[int]]],
    seed: int,
) -> dict[str, Any]:
    stats: dict[str, Any] = dict(graph_stats(graph).as_dict())
    stats["degree_ks_vs_real"] = degree_ks(graph, real)
    shared = sum(1 for a, b in graph.edges if real.has_edge(a, b))
    stats["edges_also_real"] = shared / max(graph.number_of_edges(), 1)
    for label, items in zip(("fit_half", "check_half"), halves, strict=True):
        stats[f"overlap_{label}"] = taste_overlap(
            graph, items, Streams(seed).generator("bench-social", f"pairs:{label}")
        )
    return stats


def _loss(stats: dict[str, Any], real: dict[str, Any]) -> float:
    # Matched on the fit half only: overlap lift, degree spread and clustering, each relative.
    lift = stats["overlap_fit_half"]["lift"], real["overlap_fit_half"]["lift"]
    return float(
        abs(np.log(lift[0] / lift[1]))
        + abs(np.log((stats["degree_cv"] + 1e-9) / real["degree_cv"]))
        + abs(np.log((stats["clustering"] + 1e-9) / real["clustering"]))
    )


def bench_social(dataset: str = NAME, seed: int = 0) -> dict[str, Any]:
    """Fit the homophily graph on Last.fm 2K's first halves and check it on the second.

    Returns:
        A JSON-ready object: ``real``, ``built`` (the fitted graph), ``no_homophily``
        (the fitted sociability, homophily 0), the fitted weights, the grid and timings.
    """
    started = time.perf_counter()
    data: LastFM = load_lastfm(dataset)
    real = data.graph()
    streams = Streams(seed)
    first, second = split_halves(data.plays, streams.generator("bench-social", "split"))
    users = sorted(int(u) for u in real.nodes)
    ids = [str(u) for u in users]
    vectors = taste_vectors(first, users)
    halves = (_items(first), _items(second))
    real_stats = _describe(real, real, halves, seed)
    mean_degree = real_stats["mean_degree"]

    def build(homophily: float, sociability: float) -> nx.Graph:
        return homophily_graph(
            ids,
            vectors,
            mean_degree=mean_degree,
            homophily=homophily,
            sociability=sociability,
            rng=streams.generator("bench-social", f"graph:{homophily}:{sociability}"),
        )

    grid = []
    for h, s in itertools.product(HOMOPHILY_GRID, SOCIABILITY_GRID):
        stats = _describe(build(h, s), real, halves, seed)
        grid.append({"homophily": h, "sociability": s, "loss": _loss(stats, real_stats)})
    best = min(grid, key=lambda row: row["loss"])
    built = _describe(build(best["homophily"], best["sociability"]), real, halves, seed)
    plain = _describe(build(0.0, best["sociability"]), real, halves, seed)
    return {
        "dataset": str(data.path.name),
        "seed": seed,
        "users": len(ids),
        "taste_dims": vectors.shape[1],
        "fitted": {
            "friends": mean_degree,
            "homophily": best["homophily"],
            "sociability": best["sociability"],
        },
        "real": real_stats,
        "built": built,
        "no_homophily": plain,
        "grid": grid,
        "wall_seconds": time.perf_counter() - started,
    }
