"""A population from a dataset: the split, the taste space, and the users who become personas.

Every domain builds its personas the same way: the dataset is split in time,
a taste space is fitted on train, and `personas` train users are drawn from a
keyed stream. Held-out rows never reach a persona.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from personas.builder import build_personas
from personas.datasets import Dataset, Split, load_dataset, split_ratings
from personas.io import PersonaFileError, load_personas, save_personas
from personas.sampled import SAMPLED_FILE, People, SampledPersonas
from personas.sampler import PersonaSampler
from personas.schema import Persona
from personas.taste import TasteSpace, fit_taste_space
from simulator.core.manifest import file_sha256, read_manifest
from simulator.core.rng import Streams
from simulator.core.rundir import PERSONAS_FILE, RunDirError


@dataclass(frozen=True)
class Population:
    """The data a population is drawn from."""

    dataset: Dataset
    split: Split
    space: TasteSpace


class PopulationSettings(Protocol):
    """What building a population needs from a config (a run's, a chat run's)."""

    @property
    def dataset(self) -> str:
        """A dataset name or path."""

    @property
    def personas(self) -> int:
        """How many personas: dataset users, and sampled ones beyond them."""

    @property
    def holdout(self) -> float:
        """The held-out share of each user's history."""

    @property
    def min_train(self) -> int:
        """The fewest train ratings a user needs."""

    @property
    def taste_dims(self) -> int:
        """Dimensions of the taste space."""

    @property
    def split_label(self) -> str:
        """The split rule, as provenance records it."""


def fit_population(
    config: PopulationSettings,
    dataset: Dataset | None = None,
    split: Split | None = None,
    *,
    user_weights: dict[int, int] | None = None,
) -> Population:
    """Load (unless given) and split the dataset, and fit the taste space on train."""
    dataset = dataset if dataset is not None else load_dataset(config.dataset)
    if split is None:
        split = split_ratings(
            dataset.ratings, config.holdout, config.min_train, timed=dataset.timed
        )
    space = fit_taste_space(
        split.train,
        dataset.items["item_id"].to_numpy(),
        dims=config.taste_dims,
        user_weights=user_weights,
    )
    return Population(dataset=dataset, split=split, space=space)


def sample_users(split: Split, n: int, streams: Streams) -> list[int]:
    """Draw n train users without replacement from a keyed stream (all if n is larger)."""
    eligible = np.unique(split.train["user_id"].to_numpy())
    if n >= len(eligible):
        return [int(u) for u in eligible]
    chosen = streams.generator("population", "sample").choice(eligible, size=n, replace=False)
    return sorted(int(u) for u in chosen)


def build_run_personas(config: PopulationSettings, prep: Population, streams: Streams) -> People:
    """The personas a run with `config` builds: its sampled users, from their train rows.

    With a `personas_file`, they are that file's instead (see :func:`personas_from_file`).
    """
    path = getattr(config, "personas_file", None)
    if path is not None:
        return People(personas_from_file(Path(path), prep))
    sampled = getattr(config, "population", "data") == "sampled"
    eligible = int(prep.split.train["user_id"].n_unique())
    if not sampled and config.personas <= eligible:
        users = sample_users(prep.split, config.personas, streams)
        return People(
            build_personas(
                prep.dataset,
                prep.split.train,
                users,
                space=prep.space,
                split_label=config.split_label,
            )
        )
    # Beyond the data's users (or when asked): the real ones fit the sampler, which draws
    # the rest. A sampled population holds none of the real personas themselves.
    users = sample_users(prep.split, eligible, streams)
    real = build_personas(
        prep.dataset, prep.split.train, users, space=prep.space, split_label=config.split_label
    )
    scale = prep.dataset.rating_scale
    sampler = PersonaSampler.fit(real, None if scale is None else scale.high, prep.dataset.words)
    seed = streams.integer_seed("population", "sampler")
    if sampled:
        return People([], sampler.sample_table(config.personas, seed))
    return People(real, sampler.sample_table(config.personas - len(real), seed))


C = TypeVar("C", bound=BaseModel)


def with_personas_file(config: C) -> C:
    """`config` with `personas` set to its file's count, read before anything is written.

    A file that does not parse is refused here, before the run claims its folder.
    """
    path = getattr(config, "personas_file", None)
    if path is None:
        return config
    people = load_personas(Path(path))
    if not people:
        raise PersonaFileError(f"{path}: no personas")
    return config.model_copy(update={"personas": len(people)})


def start_personas(
    config: PopulationSettings, prep: Population, streams: Streams, out: Path
) -> People:
    """Build (or read) a fresh start's personas and save them as the run's persona files.

    The real ones go to `personas.json`, the sampled ones (if any) to their table.

    Personas of a file that belong to other data are refused, and the starting
    manifest is taken back: nothing ran, so the folder is free for the next try.
    """
    try:
        personas = build_run_personas(config, prep, streams)
    except PersonaFileError:
        (Path(out) / "manifest.json").unlink(missing_ok=True)
        raise
    save_personas(personas.real, Path(out) / PERSONAS_FILE)
    if personas.sampled is not None:
        personas.sampled.write(Path(out) / SAMPLED_FILE)
    return personas


def personas_from_file(path: Path, prep: Population) -> list[Persona]:
    """Personas saved earlier (with LLM backstories, say), checked to belong to this run.

    Each must have been built from this dataset's data (``Dataset.content_sha256``) in
    this taste space, from a user the train split has: a persona from other data would
    be simulated against the wrong catalogue and taste.

    Raises:
        PersonaFileError: The file does not parse, or a persona belongs elsewhere (the
            message names the file, the persona and what differs).
    """
    people = load_personas(path)
    if not people:
        raise PersonaFileError(f"{path}: no personas")
    users = set(np.unique(prep.split.train["user_id"].to_numpy()).tolist())
    digest = prep.dataset.content_sha256
    for person in people:
        where = f"{path}: persona {person.id!r}"
        source = person.provenance
        if source.dataset_sha256 != digest:
            raise PersonaFileError(
                f"{where} was built from other data (dataset digest "
                f"{(source.dataset_sha256 or 'none')[:12]}…, this run's {digest[:12]}…); "
                f"build the file from the run's dataset ({prep.dataset.name})"
            )
        if person.taste.factor_space != prep.space.id:
            raise PersonaFileError(
                f"{where} lives in taste space {person.taste.factor_space}, this run's is "
                f"{prep.space.id}: build the file with the run's taste_dims, holdout and "
                "min_train"
            )
        if source.user_id not in users:
            raise PersonaFileError(f"{where}: user {source.user_id} is not in the train split")
    return people


def run_personas(out: Path) -> People:
    """The run's personas (personas.json, then any sampled table), checked against the manifest.

    Raises:
        RunDirError: A file's sha256 differs from the manifest's.
        PersonaFileError: A file is missing or does not parse.
    """
    path = Path(out) / PERSONAS_FILE
    manifest = read_manifest(out) if (Path(out) / "manifest.json").is_file() else {}
    recorded = manifest.get("personas")
    recorded = recorded if isinstance(recorded, dict) else {}
    _same_file(path, recorded.get("sha256"))
    sampled = recorded.get("sampled")
    table = Path(out) / SAMPLED_FILE
    if isinstance(sampled, dict) or table.is_file():
        _same_file(table, sampled.get("sha256") if isinstance(sampled, dict) else None)
        return People(load_personas(path), SampledPersonas.read(table))
    return People(load_personas(path))


def _same_file(path: Path, expected: object) -> None:
    if isinstance(expected, str) and path.is_file():
        found = file_sha256(path)
        if found != expected:
            raise RunDirError(
                f"{path}: the persona file changed since the run started (sha256 "
                f"{expected[:12]}… then, {found[:12]}… now); restore it, or start afresh"
            )
