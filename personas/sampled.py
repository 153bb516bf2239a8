"""A sampled population as a table: one row per persona, a column per value.

A million `Persona` objects (or their JSON) cost minutes and gigabytes; the
same people as columns cost a second and a few hundred megabytes. The table is
what a run keeps (`personas-sampled.parquet`); `persona(i)` builds the i-th
`Persona` when one is wanted (the per-agent engine, a reader), and the columnar
engine reads the columns as they are. Factor values are float32 in the file and
everywhere else, so both ways read the same numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from personas.backstory import template_backstory
from personas.datasets import Words
from personas.io import PersonaFileError
from personas.schema import (
    ITEMS_PER_SESSION_MAX,
    Demographics,
    Persona,
    Provenance,
    RatingStyle,
    Taste,
    Traits,
)

SAMPLED_FILE = "personas-sampled.parquet"
_META = b"simfolk.sampled"
SCALARS = (
    "sessions_per_day",
    "items_per_session",
    "conformity",
    "diversity",
    "patience",
    "rating_mean",
    "rating_bias",
    "rating_spread",
)
INTEGERS = ("n_train", "train_until")
VECTORS = ("genre_affinity", "factors", "choice_factors", "recent_choice_factors")
# The bounds `personas.schema` puts on each trait, checked column by column on read.
_RANGES = {
    "sessions_per_day": (1e-6, 48.0),
    "items_per_session": (1.0, ITEMS_PER_SESSION_MAX),
    "conformity": (0.0, 1.0),
    "diversity": (0.0, 1.0),
    "patience": (0.0, 1.0),
    "rating_spread": (1e-9, float("inf")),
}


@dataclass(frozen=True)
class SampledOrigin:
    """What every row shares: who drew it, from what, in which taste space."""

    sampler: str
    seed: int
    start: int  # the first row's index: ids are sampled-<seed>-<start + row>
    genres: tuple[str, ...]
    factor_space: str | None
    dataset: str | None
    dataset_sha256: str | None
    split: str | None
    scale_high: float | None
    words: Words


class SampledPersonas(Sequence[Persona]):
    """Sampled personas by the column; a sequence of `Persona` when indexed."""

    def __init__(self, origin: SampledOrigin, columns: dict[str, np.ndarray]) -> None:
        self.origin = origin
        self.columns = columns
        self._n = len(columns["sessions_per_day"])

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Persona: ...
    @overload
    def __getitem__(self, i: slice) -> list[Persona]: ...
    def __getitem__(self, i: int | slice) -> Persona | list[Persona]:
        if isinstance(i, slice):
            return [self.persona(j) for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self.persona(i % self._n)

    def __iter__(self) -> Iterator[Persona]:
        return (self.persona(i) for i in range(self._n))

    def ids(self) -> list[str]:
        """Every persona's id, in row order (without building the personas)."""
        o = self.origin
        return [f"sampled-{o.seed}-{i}" for i in range(o.start, o.start + self._n)]

    def persona(self, i: int) -> Persona:
        """The i-th row as a `Persona`, its backstory from the attribute template."""
        c, o = self.columns, self.origin
        traits = Traits(**{name: float(c[name][i]) for name in SCALARS[:5]})
        rating = RatingStyle(
            mean=float(c["rating_mean"][i]),
            bias=float(c["rating_bias"][i]),
            spread=float(c["rating_spread"][i]),
        )
        row = c["genre_affinity"][i]
        affinity = {g: float(a) for g, a in zip(o.genres, row, strict=True) if a != 0.0}
        favourites = sorted(affinity, key=lambda g: (-affinity[g], g))[:3]
        spaced = o.factor_space is not None

        def vector(name: str) -> tuple[float, ...]:
            return tuple(float(x) for x in c[name][i]) if spaced else ()

        return Persona(
            id=f"sampled-{o.seed}-{o.start + i}",
            traits=traits,
            taste=Taste(
                genre_affinity=affinity,
                factors=vector("factors"),
                choice_factors=vector("choice_factors"),
                recent_choice_factors=vector("recent_choice_factors"),
                factor_space=o.factor_space,
            ),
            rating=rating,
            backstory=template_backstory(
                Demographics(), traits, rating, favourites, o.scale_high, o.words
            ),
            provenance=Provenance(
                source="sampler",
                sampler=o.sampler,
                seed=o.seed,
                dataset=o.dataset,
                dataset_sha256=o.dataset_sha256,
                split=o.split,
                n_train=int(c["n_train"][i]),
                train_until=int(c["train_until"][i]),
            ),
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """The table as Parquet (zstd), the shared origin in the file's metadata."""
        path = Path(path)
        arrays: dict[str, pa.Array] = {"id": pa.array(self.ids(), pa.string())}
        for name in (*SCALARS, *INTEGERS):
            arrays[name] = pa.array(self.columns[name])
        for name in VECTORS:
            arrays[name] = _vectors(self.columns[name])
        table = pa.table(arrays)
        origin = {**asdict(self.origin), "genres": list(self.origin.genres)}
        table = table.replace_schema_metadata({_META: json.dumps(origin).encode()})
        partial = path.with_name(path.name + ".partial")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, path)
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SampledPersonas:
        """A table `write` wrote; PersonaFileError naming the file and field otherwise."""
        path = Path(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise PersonaFileError(f"{path}: not a sampled-persona table ({exc})") from exc
        meta = (table.schema.metadata or {}).get(_META)
        if meta is None:
            raise PersonaFileError(f"{path}: no {_META.decode()} metadata; not simfolk's table")
        try:
            raw: dict[str, Any] = json.loads(meta)
            origin = SampledOrigin(
                **{**raw, "genres": tuple(raw["genres"]), "words": Words(**raw["words"])}
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise PersonaFileError(f"{path}: metadata: {exc}") from exc
        columns: dict[str, np.ndarray] = {}
        for name in (*SCALARS, *INTEGERS, *VECTORS):
            if name not in table.column_names:
                raise PersonaFileError(f"{path}: column {name!r} is missing")
            column = table.column(name).combine_chunks()
            if name in VECTORS:
                flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
                columns[name] = flat.reshape(len(column), -1) if len(column) else flat
            else:
                columns[name] = column.to_numpy(zero_copy_only=False)
            if column.null_count:
                raise PersonaFileError(f"{path}: column {name!r} has nulls")
        for name, (low, high) in _RANGES.items():
            values = columns[name]
            bad = ~((values >= low) & (values <= high))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise PersonaFileError(
                    f"{path}: row {row}: {name} = {float(values[row])!r} is outside [{low}, {high}]"
                )
        if columns["genre_affinity"].shape[1:] not in ((len(origin.genres),), (0,)):
            raise PersonaFileError(f"{path}: genre_affinity: not one value per genre")
        return cls(origin, columns)


def _vectors(block: np.ndarray) -> pa.Array:
    """Rows of a 2-D array as an Arrow list column (fixed width where there is one)."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    if block.shape[1] == 0:
        return pa.array([[] for _ in range(len(block))], pa.list_(pa.float32()))
    return pa.FixedSizeListArray.from_arrays(pa.array(block.ravel()), block.shape[1])


class People(Sequence[Persona]):
    """A run's personas: the real ones as objects, then the sampled ones as a table."""

    def __init__(self, real: Sequence[Persona], sampled: SampledPersonas | None = None) -> None:
        self.real = list(real)
        self.sampled = sampled

    def __len__(self) -> int:
        return len(self.real) + (len(self.sampled) if self.sampled is not None else 0)

    @overload
    def __getitem__(self, i: int) -> Persona: ...
    @overload
    def __getitem__(self, i: slice) -> list[Persona]: ...
    def __getitem__(self, i: int | slice) -> Persona | list[Persona]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        i %= n
        if i < len(self.real):
            return self.real[i]
        assert self.sampled is not None  # i is past the real ones
        return self.sampled.persona(i - len(self.real))

    def __iter__(self) -> Iterator[Persona]:
        yield from self.real
        if self.sampled is not None:
            yield from self.sampled

    def ids(self) -> list[str]:
        """Every persona's id, in order, without building the sampled ones."""
        tail = self.sampled.ids() if self.sampled is not None else []
        return [p.id for p in self.real] + tail
