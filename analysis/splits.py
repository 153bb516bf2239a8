"""Train and test by persona: a persona's records all go to one side, keyed, reproducibly."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def _draw(seed: int, persona: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the persona's id."""
    digest = hashlib.sha256(f"{seed}:split:{persona}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def personas_for_test(personas: Iterable[str], seed: int, share: float) -> set[str]:
    """The personas that go to test: each whose draw is under `share`.

    A persona's side depends only on the seed and its own id, so the same export
    gives the same split and adding a persona moves no other. Two rules then hold
    the split open: at least one persona in test (the lowest draw) and at least
    one in train (the highest).

    Raises:
        ValueError: With fewer than two personas, which cannot be split.
    """
    people = sorted(set(personas))
    if len(people) < 2:
        raise ValueError(f"a split by persona needs two personas or more; there are {len(people)}")
    draws = {persona: _draw(seed, persona) for persona in people}
    test = {persona for persona, draw in draws.items() if draw < share}
    if not test:
        test = {min(people, key=draws.__getitem__)}
    if len(test) == len(people):
        test.discard(max(people, key=draws.__getitem__))
    return test


def split_file(out: Path, split: str) -> Path:
    """The file of one split of an export to `out`: `<stem>-<split><suffix>`."""
    return out.with_name(f"{out.stem}-{split}{out.suffix}")
