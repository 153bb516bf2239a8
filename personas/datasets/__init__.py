"""Real rating data the personas are built from and held against.

Readers for the MovieLens formats (ml-100k, ml-1m, ml-latest), name/path
resolution through ``SIMFOLK_DATA`` (with ml-latest-small bundled), a per-user
temporal train/held-out split, and sessions cut at long gaps.

Example:
    >>> from personas.datasets import load_dataset, temporal_split
    >>> ds = load_dataset("ml-latest-small")
    >>> split = temporal_split(ds.ratings, holdout=0.2)
"""

from __future__ import annotations

from personas.datasets.dataset import FILM_WORDS, Dataset, RatingScale, Words
from personas.datasets.errors import DatasetError
from personas.datasets.resolve import data_root, known_datasets, load_dataset
from personas.datasets.sessions import SESSION_GAP_SECONDS, sessionize
from personas.datasets.split import Split, temporal_split

__all__ = [
    "FILM_WORDS",
    "SESSION_GAP_SECONDS",
    "Dataset",
    "DatasetError",
    "RatingScale",
    "Split",
    "Words",
    "data_root",
    "known_datasets",
    "load_dataset",
    "sessionize",
    "temporal_split",
]
