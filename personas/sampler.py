"""Personas beyond the data: a Gaussian copula fitted on a split's real personas.

Each persona is a vector -- activity (log sessions per day, log items per
session), conformity, diversity, patience, rating mean and log spread, log
train size and cutoff, one affinity per genre and the three taste-factor
vectors. The copula keeps every marginal as the data has it (each coordinate
is drawn through that coordinate's empirical quantiles, so bounded traits stay
in range and heavy tails stay heavy) and the rank dependence between them (the
busy are less conformist, taste factors move with genre affinities), with the
normal-scores correlation shrunk towards the identity (Ledoit-Wolf): a few
hundred people cannot pin down a 70-dimensional correlation. What it does not
keep is dependence a correlation cannot say (clusters of taste); the bench
holds the sampled population's behaviour against the real held-out users.

A sampled persona is nobody: `nearest_distances` measures how far each is from
the closest real persona, in the units of the real spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata
from sklearn.covariance import ledoit_wolf

from personas.datasets import FILM_WORDS, Words
from personas.sampled import SampledOrigin, SampledPersonas
from personas.schema import ITEMS_PER_SESSION_MAX, Persona

SAMPLER = "gaussian-copula/1"
_BLOCK = 65_536  # rows drawn at a time: a million personas never sit in one float64 matrix
_SCALARS = (
    "log_sessions_per_day",
    "log_items_per_session",
    "conformity",
    "diversity",
    "patience",
    "rating_mean",
    "log_rating_spread",
    "log_n_train",
    "train_until",
)


def _vector(p: Persona, genres: Sequence[str], dims: tuple[int, int, int]) -> np.ndarray:
    t, r, source = p.traits, p.rating, p.provenance
    scalars = [
        math.log(t.sessions_per_day),
        math.log(t.items_per_session),
        t.conformity,
        t.diversity,
        t.patience,
        r.mean,
        math.log(r.spread),
        math.log1p(source.n_train or 0),
        float(source.train_until or 0),
    ]
    affinity = [p.taste.genre_affinity.get(g, 0.0) for g in genres]
    taste = p.taste
    vectors = (taste.factors, taste.choice_factors, taste.recent_choice_factors)
    factors = [x for v, d in zip(vectors, dims, strict=True) for x in (v or [0.0] * d)]
    return np.array([*scalars, *affinity, *factors])


@dataclass(frozen=True)
class PersonaSampler:
    """The fitted copula: sorted real values per coordinate and their shrunk correlation."""

    genres: tuple[str, ...]
    dims: tuple[int, int, int]  # lengths of factors, choice_factors, recent_choice_factors
    quantiles: np.ndarray  # (n_real, coordinates), each column sorted
    cholesky: np.ndarray  # of the shrunk normal-scores correlation
    global_mean: float  # the real personas' rating mean less their bias
    factor_space: str | None
    dataset: str | None
    dataset_sha256: str | None
    split: str | None
    scale_high: float | None
    words: Words

    @classmethod
    def fit(
        cls,
        personas: Sequence[Persona],
        scale_high: float | None = None,
        words: Words = FILM_WORDS,
    ) -> PersonaSampler:
        """Fit on real personas (one split, one taste space); at least 3 of them."""
        people = list(personas)
        if len(people) < 3:
            raise ValueError(
                f"the persona sampler needs at least 3 real personas, got {len(people)}"
            )
        spaces = {p.taste.factor_space for p in people}
        if len(spaces) > 1:
            raise ValueError(
                f"the personas come from several taste spaces: {sorted(map(str, spaces))}"
            )
        dims = (
            max(len(p.taste.factors) for p in people),
            max(len(p.taste.choice_factors) for p in people),
            max(len(p.taste.recent_choice_factors) for p in people),
        )
        genres = tuple(sorted({g for p in people for g in p.taste.genre_affinity}))
        matrix = np.array([_vector(p, genres, dims) for p in people])
        n = len(people)
        scores = ndtri((rankdata(matrix, axis=0) - 0.5) / n)
        covariance, _ = ledoit_wolf(scores)
        sd = np.sqrt(np.diag(covariance))
        correlation = covariance / np.outer(sd, sd)
        first = people[0].provenance
        return cls(
            genres=genres,
            dims=dims,
            quantiles=np.sort(matrix, axis=0),
            cholesky=np.linalg.cholesky(correlation + 1e-9 * np.eye(len(correlation))),
            global_mean=float(np.mean([p.rating.mean - p.rating.bias for p in people])),
            factor_space=people[0].taste.factor_space,
            dataset=first.dataset,
            dataset_sha256=first.dataset_sha256,
            split=first.split,
            scale_high=scale_high,
            words=words,
        )

    @property
    def description(self) -> str:
        """What provenance records as the sampler."""
        return f"{SAMPLER} from {len(self.quantiles)} personas of {self.dataset}"

    def sample_matrix(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw n persona vectors (rows), each coordinate through the real quantiles."""
        z = rng.standard_normal((n, self.cholesky.shape[0])) @ self.cholesky.T
        u = ndtr(z)
        m = len(self.quantiles)
        positions = (np.arange(m) + 0.5) / m
        return np.column_stack(
            [np.interp(u[:, j], positions, self.quantiles[:, j]) for j in range(u.shape[1])]
        )

    def sample(self, n: int, seed: int, *, start: int = 0) -> list[Persona]:
        """Draw n personas, ids `sampled-<seed>-<index>` from `start`; the seed keys the draws."""
        return list(self.sample_table(n, seed, start=start))

    def sample_table(self, n: int, seed: int, *, start: int = 0) -> SampledPersonas:
        """`sample` as a table: the same people, by the column, in a fraction of the time."""
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5A4D,)))
        width = self.cholesky.shape[0]
        # The generator fills draws in order, so rows come the same in blocks as at once.
        for skip in range(0, start, _BLOCK):
            rng.standard_normal((min(_BLOCK, start - skip), width))
        blocks = [
            self._columns(self.sample_matrix(min(_BLOCK, n - at), rng))
            for at in range(0, n, _BLOCK)
        ] or [self._columns(np.zeros((0, width)))]
        columns = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
        origin = SampledOrigin(
            sampler=self.description,
            seed=seed,
            start=start,
            genres=self.genres,
            factor_space=self.factor_space,
            dataset=self.dataset,
            dataset_sha256=self.dataset_sha256,
            split=self.split,
            scale_high=self.scale_high,
            words=self.words,
        )
        return SampledPersonas(origin, columns)

    def _columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Persona values from sampled vectors, clipped to what the schema allows."""
        v = {name: rows[:, j] for j, name in enumerate(_SCALARS)}
        g0 = len(_SCALARS)
        g1 = g0 + len(self.genres)
        mean = v["rating_mean"]
        ends = g1 + np.cumsum(self.dims)
        starts = ends - np.array(self.dims)
        factors = [rows[:, a:b].astype(np.float32) for a, b in zip(starts, ends, strict=True)]
        return {
            "sessions_per_day": np.clip(np.exp(v["log_sessions_per_day"]), 1e-6, 48.0),
            "items_per_session": np.clip(
                np.exp(v["log_items_per_session"]), 1.0, ITEMS_PER_SESSION_MAX
            ),
            "conformity": np.clip(v["conformity"], 0.0, 1.0),
            "diversity": np.clip(v["diversity"], 0.0, 1.0),
            "patience": np.clip(v["patience"], 0.0, 1.0),
            "rating_mean": mean,
            "rating_bias": mean - self.global_mean,
            "rating_spread": np.maximum(np.exp(v["log_rating_spread"]), 0.1),
            "n_train": np.maximum(np.round(np.expm1(v["log_n_train"])), 0).astype(np.int64),
            "train_until": np.round(v["train_until"]).astype(np.int64),
            "genre_affinity": rows[:, g0:g1].astype(np.float32),
            "factors": factors[0],
            "choice_factors": factors[1],
            "recent_choice_factors": factors[2],
        }

    def vectors(self, personas: Sequence[Persona]) -> np.ndarray:
        """Personas as the sampler's vectors (rows), for distances."""
        return np.array([_vector(p, self.genres, self.dims) for p in personas])


def nearest_distances(
    points: np.ndarray, reference: np.ndarray, *, same: bool = False
) -> np.ndarray:
    """Each point's distance to its nearest reference row, in units of the reference's spread.

    `same`: the points are the reference; a row's distance to itself is left out (the
    real-to-real baseline a sampled population is held against).
    """
    sd = reference.std(axis=0)
    sd[sd == 0] = 1.0
    a, b = points / sd, reference / sd
    best = np.full(len(a), np.inf)
    b2 = (b**2).sum(axis=1)
    for start in range(0, len(a), 2048):
        chunk = a[start : start + 2048]
        d2 = (chunk**2).sum(axis=1)[:, None] + b2[None, :] - 2.0 * chunk @ b.T
        if same:
            idx = np.arange(start, start + len(chunk))
            d2[np.arange(len(chunk)), idx] = np.inf
        best[start : start + len(chunk)] = d2.min(axis=1)
    result: np.ndarray = np.sqrt(np.maximum(best, 0.0))
    return result
