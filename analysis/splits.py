"""Train and test by persona: a persona's records all go to one side, keyed, reproducibly."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def personas_for_test(personas: Iterable[str], seed: int, share: float) -> set[str]:
    """The personas that go to test: about `share` of them, at least one, never all.

    Who goes where depends only on the seed and each persona's id (a hash order),
    so the same export gives the same split and adding a persona moves no other.
    """
    people = sorted(set(personas))
    if len(people) < 2:
        return set()

    def key(persona: str) -> str:
        return hashlib.sha256(f"{seed}:split:{persona}".encode()).hexdigest()

    n_test = min(max(round(share * len(people)), 1), len(people) - 1)
    return set(sorted(people, key=key)[:n_test])


def split_file(out: Path, split: str) -> Path:
    """The file of one split of an export to `out`: `<stem>-<split><suffix>`."""
    return out.with_name(f"{out.stem}-{split}{out.suffix}")
