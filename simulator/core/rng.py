"""Keyed random streams: every draw comes from (root seed, owner, purpose).

Two runs that share a root seed give the same persona the same draws for the
same purpose, whatever else differs between them (another target, another
population order). That is what makes A/B arms use common random numbers and
what makes a run reproducible byte for byte.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def _key(text: str) -> int:
    # A stable 64-bit key; Python's hash() is salted per process.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class Streams:
    """A factory of independent, reproducible generators under one root seed."""

    def __init__(self, root_seed: int) -> None:
        if root_seed < 0:
            raise ValueError(f"root seed must be >= 0, got {root_seed}")
        self.root_seed = root_seed

    def sequence(self, owner: str, purpose: str) -> np.random.SeedSequence:
        """The seed sequence for one owner (persona id, target name...) and purpose."""
        return np.random.SeedSequence(self.root_seed, spawn_key=(_key(owner), _key(purpose)))

    def generator(self, owner: str, purpose: str) -> np.random.Generator:
        """A fresh generator for (owner, purpose); the same key gives the same draws."""
        return np.random.Generator(np.random.PCG64(self.sequence(owner, purpose)))

    def integer_seed(self, owner: str, purpose: str) -> int:
        """A 32-bit seed for libraries that only take an int (mesa, implicit)."""
        return int(self.sequence(owner, purpose).generate_state(1, dtype=np.uint32)[0])


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as plain data, for checkpoints."""
    return dict(rng.bit_generator.state)


def restore_generator(state: dict[str, Any]) -> np.random.Generator:
    """A generator that continues exactly where `generator_state` left off."""
    bit_generator = np.random.PCG64()
    bit_generator.state = state  # type: ignore[assignment]
    return np.random.Generator(bit_generator)
