"""Cross-file checks and the final frames: what every reader does last, in one place.

Every reader (the three MovieLens formats and the interaction-log reader) turns
its files into three frames of typed columns with a ``line`` column (where each
row came from), and hands them here: every rating's item and user must be
defined, ids unique, no row repeated; then the frames take the one shape
:class:`Dataset` promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from personas.datasets.dataset import FILM_WORDS, Dataset, Feedback, Format, RatingScale, Words
from personas.datasets.errors import DatasetError, at
from personas.datasets.split import canonical_sort

_ITEM_SCHEMA = pl.Schema(
    {
        "item_id": pl.Int64(),
        "title": pl.String(),
        "year": pl.Int32(),
        "genres": pl.List(pl.String()),
    }
)
_RATING_SCHEMA = pl.Schema(
    {
        "user_id": pl.Int64(),
        "item_id": pl.Int64(),
        "rating": pl.Float64(),
        "timestamp": pl.Int64(),
    }
)
_USER_SCHEMA = pl.Schema(
    {"user_id": pl.Int64(), "age": pl.Int32(), "gender": pl.String(), "occupation": pl.String()}
)


@dataclass(frozen=True)
class Tables:
    """A reader's three frames and the files they came from.

    ``users_path`` is None when the users are not listed in a file of their own
    (they are then whoever rated something, and cannot be missing).
    """

    items: pl.DataFrame
    ratings: pl.DataFrame
    users: pl.DataFrame
    items_path: Path
    ratings_path: Path
    users_path: Path | None
    row_word: str = "line"  # how the `line` column is spoken of in messages


def assemble(
    name: str,
    folder: Path,
    fmt: Format,
    sha256: str,
    tables: Tables,
    genres: tuple[str, ...],
    scale: RatingScale | None,
    words: Words = FILM_WORDS,
    keys: dict[str, pl.DataFrame] | None = None,
    feedback: Feedback = "explicit",
    timed: bool = True,
) -> Dataset:
    """Check the frames against each other and build the dataset.

    Raises:
        DatasetError: At the first rating whose item or user is not defined, a
            duplicate id, or a row given twice.
    """
    items, ratings, users = tables.items, tables.ratings, tables.users
    keys = keys or {}
    if ratings.height == 0:
        raise DatasetError(f"{tables.ratings_path}: no ratings: a dataset needs at least one")
    _check_unique(items, tables.items_path, "item_id", tables.row_word, keys)
    _check_no_repeated_rows(ratings, tables.ratings_path, tables.row_word, keys)
    if tables.users_path is not None:
        _check_unique(users, tables.users_path, "user_id", tables.row_word, keys)

    for column, path in (("item_id", tables.items_path), ("user_id", tables.users_path)):
        frame = items if column == "item_id" else users
        missing = ratings.filter(~pl.col(column).is_in(frame[column].implode()))
        if missing.height and path is not None:
            what = column.removesuffix("_id")
            raise _at(
                tables.ratings_path,
                f"{what} {_shown(keys, what, missing[column][0])} is not in {path}",
                missing["line"][0],
                tables.row_word,
            )

    rated = ratings["user_id"].unique().implode()
    schema = _RATING_SCHEMA
    if feedback == "implicit":  # how many times, in place of a rating
        schema = pl.Schema({**_RATING_SCHEMA, "count": pl.Int64()})
    return Dataset(
        name=name,
        path=folder,
        format=fmt,
        sha256=sha256,
        items=_typed(items.sort("item_id"), _ITEM_SCHEMA),
        ratings=canonical_sort(_typed(ratings, schema)),
        users=_typed(users.filter(pl.col("user_id").is_in(rated)).sort("user_id"), _USER_SCHEMA),
        genres=genres,
        rating_scale=scale,
        words=words,
        keys=keys,
        feedback=feedback,
        timed=timed,
    )


def _shown(keys: dict[str, pl.DataFrame], what: str, value: object) -> str:
    """An id as the data gave it: its key where the reader numbered the ids."""
    table = keys.get(what)
    if table is None:
        return str(value)
    found = table.filter(pl.col(f"{what}_id") == value)["key"]
    return repr(found[0]) if found.len() else str(value)


def _at(path: Path, reason: str, line: object, row_word: str) -> DatasetError:
    return at(path, reason, None if line is None else int(str(line)), unit=row_word)


def _check_unique(
    frame: pl.DataFrame, path: Path, column: str, row_word: str, keys: dict[str, pl.DataFrame]
) -> None:
    dup = frame.filter(pl.col(column).is_duplicated()).sort("line")
    if dup.height:
        # Report the second occurrence: the first one is where the id was defined.
        first = dup.filter(pl.col(column) == dup[column][0])
        shown = _shown(keys, column.removesuffix("_id"), dup[column][0])
        raise _at(path, f"duplicate {column} {shown}", first["line"][1], row_word)


def _check_no_repeated_rows(
    ratings: pl.DataFrame, path: Path, row_word: str, keys: dict[str, pl.DataFrame]
) -> None:
    # A re-rating (another time or value) is real; the same row twice is a file joined to itself.
    same = ("user_id", "item_id", "rating", "timestamp")
    again = (
        ratings.with_columns(first=pl.col("line").min().over(same))
        .filter(pl.col("line") != pl.col("first"))
        .sort("line")
    )
    if again.height:
        row = again.row(0, named=True)
        raise _at(
            path,
            f"the same rating again (user {_shown(keys, 'user', row['user_id'])}, "
            f"item {_shown(keys, 'item', row['item_id'])}, "
            f"first on {row_word} {row['first']}): is the file repeated?",
            row["line"],
            row_word,
        )


def _typed(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
