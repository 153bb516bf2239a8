"""Duplicate dialogues, exact or near, found by normalised text and MinHash LSH.

Exact duplicates share their normalised text; near ones have an estimated
Jaccard similarity, over word 3-shingles, at or above a threshold with a kept
dialogue. LSH only proposes candidates; the sketches decide. Seed, hashing
scheme and band layout are fixed so the same dialogues always give the same
result.
"""

from __future__ import annotations

from typing import Literal, Protocol, TypeVar, get_args

from datasketch import MinHash, MinHashLSH

Dedup = Literal["none", "exact", "near"]
DEDUP_MODES: tuple[str, ...] = get_args(Dedup)

NUM_PERM = 128
MINHASH_SEED = 1
SHINGLE = 3  # words per shingle for near-duplicate detection
LSH_RECALL = 0.999  # chance that a pair at the threshold is proposed for comparison


class _Dialogue(Protocol):
    id: str
    messages: list[tuple[str, str]]  # (role, text)


_D = TypeVar("_D", bound=_Dialogue)


def normalised_text(messages: list[tuple[str, str]]) -> str:
    """A dialogue's text with roles, lowercased, whitespace collapsed: the exact-duplicate key."""
    return " ".join(" ".join(f"{role}: {text}" for role, text in messages).lower().split())


def _minhash(text: str) -> MinHash:
    tokens = text.split()
    shingles = {" ".join(tokens[i : i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1))}
    # The scheme is named so a change of datasketch's default cannot change the result.
    minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32")
    minhash.update_batch([shingle.encode("utf-8") for shingle in sorted(shingles)])
    return minhash


def lsh_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) that propose a pair at `threshold` with chance >= LSH_RECALL.

    datasketch's own choice balances misses against false candidates and
    proposes a pair at the threshold only about a third of the time; a dedup
    should miss little, and false candidates cost one sketch comparison each.
    Of the settings that reach the recall, the one with the most rows per band
    proposes the fewest dissimilar pairs. At least two bands, as datasketch asks.
    """
    rows = [
        r
        for r in range(1, NUM_PERM // 2 + 1)
        if 1 - (1 - threshold**r) ** (NUM_PERM // r) >= LSH_RECALL
    ]
    r = max(rows, default=1)
    return NUM_PERM // r, r


def deduplicate(records: list[_D], mode: Dedup, threshold: float) -> tuple[list[_D], int, int]:
    """(kept records, exact duplicates, near duplicates); the first of each group is kept."""
    if mode == "none":
        return records, 0, 0
    seen: set[str] = set()
    lsh = (
        MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=lsh_bands(threshold))
        if mode == "near"
        else None
    )
    sketches: dict[str, MinHash] = {}
    kept, exact, near = [], 0, 0
    for record in records:
        text = normalised_text(record.messages)
        if text in seen:
            exact += 1
            continue
        seen.add(text)
        if lsh is not None:
            sketch = _minhash(text)
            # LSH gives candidates; the estimated Jaccard decides, so the threshold is exact.
            if any(sketch.jaccard(sketches[key]) >= threshold for key in lsh.query(sketch)):
                near += 1
                continue
            lsh.insert(record.id, sketch)
            sketches[record.id] = sketch
        kept.append(record)
    return kept, exact, near
