"""The fidelity bench's users: personas built from train, with their held-out and rated items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from personas.builder import build_personas
from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import Prepared, prepare
from simulator.population import sample_users


@dataclass(frozen=True)
class Population:
    """The bench's users: personas from train, their held-out and all their rated items."""

    prep: Prepared
    config: RunConfig
    personas: list[Persona]
    heldout: pl.DataFrame  # the personas' held-out rows, by user, time, item
    rated: dict[int, np.ndarray]  # user -> every item rated (train or held-out), sorted
    sampled: int  # users drawn before dropping those without held-out ratings

    def user_of(self, persona: Persona) -> int:
        """The dataset user the persona was built from."""
        user = persona.provenance.user_id
        if user is None:
            raise ValueError(f"persona {persona.id!r} has no dataset user")
        return user


def population(config: RunConfig, users: int | None = None) -> Population:
    """Prepare the data and build personas, from train only, for the sampled users.

    Users are drawn as :func:`simulator.population.sample_users` draws them (all if
    ``users`` is None or larger than the train population); those without a
    held-out rating are then left out, since they have nothing to be scored on.
    """
    if users is not None and users < 1:
        raise ValueError(f"--users must be at least 1, got {users}")
    prep = prepare(config)
    n = users if users is not None else prep.split.train["user_id"].n_unique()
    sampled = sample_users(prep.split, n, Streams(config.seed))
    with_heldout = set(prep.split.heldout["user_id"].unique().to_list())
    chosen = [u for u in sampled if u in with_heldout]
    if not chosen:
        raise ValueError(
            f"none of the {len(sampled)} sampled users of {prep.dataset.name} has a held-out "
            "rating; nothing to score"
        )
    personas = build_personas(
        prep.dataset, prep.split.train, chosen, space=prep.space, split_label=config.split_label
    )
    heldout = prep.split.heldout.filter(pl.col("user_id").is_in(chosen))
    both = pl.concat(
        [prep.split.train.select("user_id", "item_id"), heldout.select("user_id", "item_id")]
    ).filter(pl.col("user_id").is_in(chosen))
    rated = {
        int(uid): np.unique(frame["item_id"].to_numpy())
        for (uid,), frame in both.partition_by("user_id", as_dict=True).items()
    }
    return Population(
        prep=prep,
        config=config,
        personas=personas,
        heldout=heldout,
        rated=rated,
        sampled=len(sampled),
    )
