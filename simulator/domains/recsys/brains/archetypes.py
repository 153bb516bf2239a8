"""Archetypes and shelves: personas and items clustered, so the model is asked about few pairs.

The features are what the utility brain reads of a persona: its genre
affinities, its taste factors, its usual rating, how often it comes, how much
it takes per session, how conformist, diverse and patient it is. Each column is
standardised over the population and the rows clustered by k-means (scikit-learn,
seeded from the run's streams), so the same personas always make the same
archetypes. An archetype speaks through its *medoid*: the real member nearest
its centre, whose own words (backstory, likes, dislikes) go into the prompt.

Shelves are the catalogue's items clustered the same way on their taste-space
rows and genres; a shelf is shown to the model as its most popular titles and
its commonest genres. The model is asked about (archetype, shelf) pairs, so what
it costs is bounded by archetypes × shelves, whatever the population or catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog


class ArchetypeConfig(BaseModel):
    """How `--brain archetype` clusters the personas and weighs the model's word."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=16, ge=1, le=4096, description="archetypes (k-means clusters)")
    weight: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="click log-odds per two stars of the archetype's appeal above its "
        "mean answer; 0 leaves the utility brain's choice model as it is",
    )
    shelves: int = Field(
        default=24, ge=1, le=1024, description="kinds of item (k-means over the catalogue)"
    )
    per_call: int = Field(
        default=8,
        ge=2,
        le=32,
        description="shelves rated in one call (fixed groups, in shelf order); stars count as "
        "their distance from the call's mean, so only what an archetype likes more or less "
        "than the rest moves a click",
    )
    examples: int = Field(default=3, ge=1, le=10, description="titles that show a shelf")


def _kmeans(rows: np.ndarray, count: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised `rows` and their k-means labels (at most `count` clusters), seeded."""
    from sklearn.cluster import KMeans  # the clustering loads only for this brain

    scale = rows.std(axis=0)
    scale[scale == 0] = 1.0
    z = (rows - rows.mean(axis=0)) / scale
    k = min(count, len(np.unique(z, axis=0)))
    state = Streams(seed).integer_seed(what, "kmeans")
    return z, np.asarray(KMeans(n_clusters=k, n_init=4, random_state=state).fit(z).labels_)


def persona_features(persona: Persona, genres: Sequence[str], dims: int) -> np.ndarray:
    """One persona as the vector the clustering sees (genres, factors, style, activity)."""
    affinity = persona.taste.genre_affinity
    factors = list(persona.taste.factors[:dims]) + [0.0] * max(0, dims - len(persona.taste.factors))
    traits = persona.traits
    return np.array(
        [
            *(affinity.get(g, 0.0) for g in genres),
            *factors,
            persona.rating.mean,
            math.log(traits.sessions_per_day),
            math.log(traits.items_per_session),
            traits.conformity,
            traits.diversity,
            traits.patience,
        ]
    )


@dataclass(frozen=True)
class Archetypes:
    """The clusters of one population: where each persona belongs, and who speaks for it."""

    centres: np.ndarray  # (count, features), in standardised units
    centre: np.ndarray  # each feature's population mean ...
    scale: np.ndarray  # ... and spread: persona -> (features - centre) / scale
    genres: tuple[str, ...]
    dims: int
    medoids: tuple[Persona, ...]
    sizes: tuple[int, ...]

    @classmethod
    def fit(cls, personas: Sequence[Persona], count: int, seed: int) -> Archetypes:
        """Cluster `personas` into at most `count` archetypes (fewer distinct rows, fewer).

        Raises:
            ValueError: When there are no personas to cluster.
        """
        if not personas:
            raise ValueError("archetypes need personas to cluster; the population is empty")
        personas = sorted(personas, key=lambda p: p.id)  # a set of personas, not a list
        genres = tuple(sorted({g for p in personas for g in p.taste.genre_affinity}))
        dims = max(len(p.taste.factors) for p in personas)
        rows = np.stack([persona_features(p, genres, dims) for p in personas])
        z, labels = _kmeans(rows, count, seed, "archetypes")
        k = int(labels.max()) + 1
        centres = np.stack([z[labels == a].mean(axis=0) for a in range(k)])
        centre = rows.mean(axis=0)
        scale = rows.std(axis=0)
        scale[scale == 0] = 1.0
        medoids, sizes = [], []
        for a in range(k):
            members = np.flatnonzero(labels == a)
            nearest = members[np.argmin(((z[members] - centres[a]) ** 2).sum(axis=1))]
            medoids.append(personas[int(nearest)])
            sizes.append(len(members))
        return cls(centres, centre, scale, genres, dims, tuple(medoids), tuple(sizes))

    def __len__(self) -> int:
        return len(self.medoids)

    def of(self, persona: Persona) -> int:
        """The archetype a persona belongs to: the nearest centre."""
        z = (persona_features(persona, self.genres, self.dims) - self.centre) / self.scale
        return int(np.argmin(((self.centres - z) ** 2).sum(axis=1)))


@dataclass(frozen=True)
class Shelves:
    """The catalogue's items in kinds: each row's shelf, and how each shelf is shown."""

    of_row: np.ndarray  # catalogue row -> shelf
    examples: tuple[tuple[int, ...], ...]  # per shelf: its most popular item ids
    genres: tuple[tuple[str, ...], ...]  # per shelf: its commonest genres

    @classmethod
    def fit(cls, catalog: Catalog, count: int, examples: int, seed: int) -> Shelves:
        """Cluster the catalogue's rows (taste factors and genre shares) into shelves."""
        rows = np.hstack([catalog.factors, catalog.genre_matrix])
        _z, labels = _kmeans(rows, count, seed, "shelves")
        shown, common = [], []
        for shelf in range(int(labels.max()) + 1):
            members = np.flatnonzero(labels == shelf)
            top = members[np.argsort(-catalog.popularity[members], kind="stable")][:examples]
            shown.append(tuple(int(catalog.item_ids[r]) for r in top))
            weight = catalog.genre_matrix[members].sum(axis=0)
            order = np.argsort(-weight, kind="stable")[:2]
            common.append(tuple(catalog.genre_names[g] for g in order if weight[g] > 0))
        return cls(labels, tuple(shown), tuple(common))

    def __len__(self) -> int:
        return len(self.examples)
