"""Write a dataset out as an interaction log with its mapping file.

The inverse of :func:`personas.datasets.logs.read_log_folder`: any dataset
(MovieLens included) becomes three tables and ``simfolk-data.yaml``, under
column names of your choice. Reading the folder back gives the same frames;
that is how the log reader is checked against the MovieLens readers.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import yaml

from personas.datasets.dataset import Dataset
from personas.datasets.mapping import MAPPING_FILE, NAME_PATTERN, TableFormat

# The column names written unless others are asked for.
COLUMNS = {
    "user": "user",
    "item": "item",
    "time": "time",
    "rating": "rating",
    "weight": "count",
    "title": "title",
    "categories": "categories",
    "year": "year",
    "age": "age",
    "gender": "gender",
    "occupation": "occupation",
}


def write_log(
    dataset: Dataset,
    folder: str | Path,
    fmt: TableFormat = "parquet",
    columns: dict[str, str] | None = None,
    name: str | None = None,
) -> Path:
    """Write `dataset` as interactions, items and users tables plus a mapping file.

    Args:
        dataset: What to write.
        folder: Where (created; its mapping file is overwritten).
        fmt: The tables' format.
        columns: Other column names, by the keys of :data:`COLUMNS`.
        name: The name the mapping gives the dataset (default: the dataset's).

    Returns:
        The folder.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = COLUMNS | (columns or {})
    suffix = fmt
    scale = dataset.rating_scale
    interactions = dataset.ratings.select(
        _ids(dataset, "user").alias(names["user"]),
        _ids(dataset, "item").alias(names["item"]),
        *([pl.col("timestamp").alias(names["time"])] if dataset.timed else []),
        pl.col("rating").alias(names["rating"])
        if scale is not None
        else pl.col("count").alias(names["weight"]),
    )
    items = dataset.items.select(
        _ids(dataset, "item").alias(names["item"]),
        pl.col("title").alias(names["title"]),
        pl.col("year").alias(names["year"]),
        pl.col("genres").alias(names["categories"]),
    )
    users = dataset.users.select(
        _ids(dataset, "user").alias(names["user"]),
        pl.col("age").alias(names["age"]),
        pl.col("gender").alias(names["gender"]),
        pl.col("occupation").alias(names["occupation"]),
    )
    separator = None
    if fmt in ("csv", "tsv"):
        # Text tables hold no lists: categories are joined by a character no name uses.
        separator = "|"
        items = items.with_columns(pl.col(names["categories"]).list.join(separator))
    for table, stem in ((interactions, "interactions"), (items, "items"), (users, "users")):
        _write(table, out / f"{stem}.{suffix}", fmt)
    categories: dict[str, object] = {"column": names["categories"]}
    if dataset.genres:
        categories["vocabulary"] = list(dataset.genres)
    if separator:
        categories["separator"] = separator
    name = name or dataset.name
    mapping: dict[str, object] = {
        "version": 1,
        # A folder name a mapping cannot carry ("ml small (copy)") is left to the folder.
        **({"name": name} if re.fullmatch(NAME_PATTERN, name) else {}),
        "interactions": {
            "file": f"interactions.{suffix}",
            "user": names["user"],
            "item": names["item"],
            **({"time": {"column": names["time"], "unit": "seconds"}} if dataset.timed else {}),
            **(
                {"weight": {"column": names["weight"]}}
                if scale is None
                else {
                    "rating": {
                        "column": names["rating"],
                        "low": scale.low,
                        "high": scale.high,
                        "step": scale.step,
                    }
                }
            ),
        },
        "items": {
            "file": f"items.{suffix}",
            "item": names["item"],
            "title": names["title"],
            "year": names["year"],
            "categories": categories,
        },
        "users": {
            "file": f"users.{suffix}",
            "user": names["user"],
            "age": names["age"],
            "gender": names["gender"],
            "occupation": names["occupation"],
        },
        "words": {
            "item": dataset.words.item,
            "items": dataset.words.items,
            "consume": dataset.words.consume,
            "consumed": dataset.words.consumed,
        },
    }
    (out / MAPPING_FILE).write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return out


def _ids(dataset: Dataset, what: str) -> pl.Expr:
    """The ids as the data gave them: the keys where the reader numbered them."""
    column = pl.col(f"{what}_id")
    table = dataset.keys.get(what)
    if table is None:
        return column
    lookup = dict(zip(table[f"{what}_id"].to_list(), table["key"].to_list(), strict=True))
    return column.replace_strict(lookup, return_dtype=pl.String)


def _write(table: pl.DataFrame, path: Path, fmt: TableFormat) -> None:
    if fmt == "parquet":
        table.write_parquet(path)
    elif fmt == "jsonl":
        table.write_ndjson(path)
    else:
        table.write_csv(path, separator="\t" if fmt == "tsv" else ",")
