"""Real rating data the personas are built from and held against.

Readers for the MovieLens formats (ml-100k, ml-1m, ml-latest) and for your own
interaction logs (explicit or implicit, with or without times), name/path
resolution through ``SIMFOLK_DATA`` (with ml-latest-small bundled), a per-user
train/held-out split (temporal, or hashed without times), and sessions cut at
long gaps.

Example:
    >>> from personas.datasets import load_dataset, temporal_split
    >>> ds = load_dataset("ml-latest-small")
    >>> split = temporal_split(ds.ratings, holdout=0.2)
"""

from __future__ import annotations

from personas.datasets.dataset import FILM_WORDS, Dataset, RatingScale, Words, strength
from personas.datasets.errors import DatasetError
from personas.datasets.resolve import data_root, known_datasets, load_dataset
from personas.datasets.sessions import SESSION_GAP_SECONDS, sessionize
from personas.datasets.split import Split, hashed_split, split_ratings, temporal_split

__all__ = [
    "FILM_WORDS",
    "SESSION_GAP_SECONDS",
    "Dataset",
    "DatasetError",
    "RatingScale",
    "Split",
    "Words",
    "data_root",
    "hashed_split",
    "known_datasets",
    "load_dataset",
    "sessionize",
    "split_ratings",
    "strength",
    "temporal_split",
]
