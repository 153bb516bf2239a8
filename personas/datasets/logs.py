"""Your own interaction log as a :class:`Dataset`: the tables a mapping file describes.

A folder with ``simfolk-data.yaml`` (:mod:`personas.datasets.mapping`) is read
here. Ids that are all integers are kept; otherwise users and items are
numbered 1..N in the sorted order of their ids, and ``Dataset.keys`` holds the
ids the data gave. Categories, the rating scale and the domain's words come
from the mapping and the data, never from MovieLens.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from personas.datasets.assemble import Tables, assemble
from personas.datasets.dataset import Dataset, RatingScale
from personas.datasets.errors import DatasetError
from personas.datasets.mapping import MAPPING_FILE, Mapping, data_folder, read_mapping
from personas.datasets.parsing import Files
from personas.datasets.tables import (
    ROW,
    ROW_INDEX,
    at_row,
    counts,
    first_bad,
    integer_ids,
    numbers,
    read_table,
    text_ids,
    unix_seconds,
)


def is_log_folder(folder: Path) -> bool:
    """Whether a folder holds a mapping file (and so is read as an interaction log)."""
    return (folder / MAPPING_FILE).is_file()


def read_log(mapping_path: Path, data_root: Path | None, name: str | None = None) -> Dataset:
    """Read an interaction log by its mapping file.

    Args:
        mapping_path: ``simfolk-data.yaml`` in the data folder, or a mapping file
            elsewhere whose ``folder`` key says where the tables are.
        data_root: What ``${SIMFOLK_DATA}`` in ``folder`` stands for.
        name: The dataset's name when the mapping gives none (default: the folder's).

    Raises:
        DatasetError: Naming the file, the row or key, the column and the reason.
    """
    mapping = read_mapping(mapping_path)
    folder = data_folder(mapping, mapping_path, data_root)
    spec = mapping.interactions
    names = [spec.file] + [t.file for t in (mapping.items, mapping.users) if t is not None]
    files = Files(folder, required=list(dict.fromkeys(names)))
    files.add(mapping_path)  # the digest covers how the files were read, too

    path = files.path(spec.file)
    ratings, scale = _interactions(mapping, mapping_path, path, files.data[spec.file])
    items, items_path = _items(mapping, files, ratings)
    users, users_path = _users(mapping, files)
    keys: dict[str, pl.DataFrame] = {}
    ratings, items, users = _number(ratings, items, users, keys)
    genres = _vocabulary(mapping, items, items_path)
    tables = Tables(
        items=items,
        ratings=ratings,
        users=users,
        items_path=items_path,
        ratings_path=path,
        users_path=users_path,
        row_word=ROW,
    )
    # What `load_dataset` takes back: the folder with the mapping in it, or the mapping file.
    source = mapping_path.parent if mapping_path.name == MAPPING_FILE else mapping_path
    return assemble(
        mapping.name or name or mapping_path.parent.name,
        source,
        "log",
        files.sha256(),
        tables,
        genres,
        scale,
        words=mapping.words.words(),
        keys=keys,
        feedback="explicit" if spec.rating is not None else "implicit",
        timed=spec.time is not None,
    )


def _interactions(
    mapping: Mapping, mapping_path: Path, path: Path, raw_bytes: bytes
) -> tuple[pl.DataFrame, RatingScale | None]:
    """The interaction rows (line, user_key, item_key, rating, timestamp[, count]), checked.

    Implicit rows at the same time (all rows, without times) for the same user
    and item are one row whose count is their sum: a repeat is a count, not a
    second rating.
    """
    spec = mapping.interactions
    time, rating, weight = spec.time, spec.rating, spec.weight
    columns = {"interactions.user": spec.user, "interactions.item": spec.item}
    if time is not None:
        columns["interactions.time.column"] = time.column
    if rating is not None:
        columns["interactions.rating.column"] = rating.column
    if weight is not None:
        columns["interactions.weight.column"] = weight.column
    raw = read_table(path, raw_bytes, spec, columns)
    if raw.height == 0:
        raise DatasetError(f"{path}: no rows: a log needs at least one interaction")
    when = (
        unix_seconds(raw, path, time.column, time.unit)
        if time is not None
        else pl.lit(0, pl.Int64)  # no times: every row at 0, split by hash (split.py)
    )
    rows = raw.select(
        pl.col(ROW_INDEX).alias("line"),
        text_ids(raw, path, spec.user).alias("user_key"),
        text_ids(raw, path, spec.item).alias("item_key"),
        (numbers(raw, path, rating.column) if rating else pl.lit(None, pl.Float64)).alias("rating"),
        when.alias("timestamp"),
        (counts(raw, path, weight.column) if weight else pl.lit(1, pl.Int64)).alias("count"),
    )
    if rating is None:
        same = ("user_key", "item_key", "timestamp")
        rows = rows.group_by(same, maintain_order=True).agg(
            pl.col("line").min(), pl.col("rating").first(), pl.col("count").sum()
        )
        return rows.select("line", *same[:2], "rating", "timestamp", "count"), None
    scale = RatingScale(rating.low, rating.high, rating.step)
    bad = first_bad(rows.rename({"line": ROW_INDEX}), ~scale.expr("rating"), "rating")
    if bad:
        raise at_row(
            path,
            bad[0],
            rating.column,
            f"rating {bad[1]} is not on the scale {scale.low:g}..{scale.high:g} in steps of "
            f"{scale.step:g} (interactions.rating in {mapping_path.name})",
        )
    return rows.drop("count"), scale


def _items(mapping: Mapping, files: Files, ratings: pl.DataFrame) -> tuple[pl.DataFrame, Path]:
    """The item table; without one, every item the log names, titled by its id."""
    spec = mapping.items
    if spec is None:
        keys = ratings.select(pl.col("item_key").unique().sort())
        word = mapping.words.item
        return (
            keys.with_columns(
                title=pl.lit(f"{word} ") + pl.col("item_key"),
                year=pl.lit(None, pl.Int32),
                genres=pl.lit([], pl.List(pl.String)),
                line=pl.lit(None, pl.UInt32),
            ),
            files.path(mapping.interactions.file),
        )
    path = files.path(spec.file)
    columns = {"items.item": spec.item}
    for place, name in (("items.title", spec.title), ("items.year", spec.year)):
        if name is not None:
            columns[place] = name
    if spec.categories is not None:
        columns["items.categories.column"] = spec.categories.column
    raw = read_table(path, files.data[spec.file], spec, columns)
    key = text_ids(raw, path, spec.item)
    title = (
        pl.col(spec.title).str.strip_chars().fill_null(key)
        if spec.title
        else pl.lit(f"{mapping.words.item} ") + key
    )
    year = pl.lit(None, pl.Int32)
    if spec.year is not None:
        parsed = pl.col(spec.year).str.strip_chars().cast(pl.Int32, strict=False)
        given = pl.col(spec.year).str.strip_chars().str.len_chars().fill_null(0) > 0
        bad = first_bad(raw, given & parsed.is_null(), spec.year)
        if bad:
            raise at_row(path, bad[0], spec.year, f"not a year: {bad[1]!r}")
        year = parsed
    genres = pl.lit([], pl.List(pl.String))
    if spec.categories is not None:
        genres = _categories(raw, path, spec.categories.column, spec.categories.separator)
    items = raw.select(
        pl.col(ROW_INDEX).alias("line"),
        key.alias("item_key"),
        title.alias("title"),
        year.alias("year"),
        genres.alias("genres"),
    )
    return items, path


def _vocabulary(mapping: Mapping, items: pl.DataFrame, path: Path) -> tuple[str, ...]:
    """The categories there are: the mapping's vocabulary, or those the items use, sorted."""
    used = items.select(pl.col("line").alias(ROW_INDEX), "genres").explode("genres")
    used = used.drop_nulls("genres")
    spec = mapping.items.categories if mapping.items is not None else None
    if spec is None or spec.vocabulary is None:
        return tuple(sorted(set(used["genres"].to_list())))
    bad = first_bad(used, ~pl.col("genres").is_in(spec.vocabulary), "genres")
    if bad:
        raise at_row(
            path,
            bad[0],
            spec.column,
            f"category {bad[1]!r} is not in items.categories.vocabulary",
        )
    return tuple(spec.vocabulary)


def _categories(raw: pl.DataFrame, path: Path, column: str, separator: str | None) -> pl.Expr:
    is_list = isinstance(raw.schema[column], pl.List)
    if not is_list and separator is None:
        raise at_row(
            path,
            None,
            column,
            "categories are text here: give items.categories.separator (e.g. '|') "
            "in the mapping, or store them as a list",
        )
    lists = pl.col(column) if is_list else pl.col(column).fill_null("").str.split(separator or "|")
    cleaned = lists.list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element().str.len_chars() > 0)
    )
    return cleaned.list.unique(maintain_order=True).fill_null(pl.lit([], pl.List(pl.String)))


def _users(mapping: Mapping, files: Files) -> tuple[pl.DataFrame | None, Path | None]:
    spec = mapping.users
    if spec is None:
        return None, None
    path = files.path(spec.file)
    columns = {"users.user": spec.user}
    for key, name in (
        ("users.age", spec.age),
        ("users.gender", spec.gender),
        ("users.occupation", spec.occupation),
    ):
        if name is not None:
            columns[key] = name
    raw = read_table(path, files.data[spec.file], spec, columns)
    age = pl.lit(None, pl.Int32)
    if spec.age is not None:
        parsed = pl.col(spec.age).str.strip_chars().cast(pl.Int32, strict=False)
        given = pl.col(spec.age).str.strip_chars().str.len_chars().fill_null(0) > 0
        bad = first_bad(raw, given & (parsed.is_null() | (parsed < 0) | (parsed > 130)), spec.age)
        if bad:
            raise at_row(path, bad[0], spec.age, f"not an age in years: {bad[1]!r}")
        age = parsed

    def text(name: str | None) -> pl.Expr:
        return pl.col(name).str.strip_chars() if name else pl.lit(None, pl.String)

    users = raw.select(
        pl.col(ROW_INDEX).alias("line"),
        text_ids(raw, path, spec.user).alias("user_key"),
        age.alias("age"),
        text(spec.gender).alias("gender"),
        text(spec.occupation).alias("occupation"),
    )
    return users, path


def _number(
    ratings: pl.DataFrame,
    items: pl.DataFrame,
    users: pl.DataFrame | None,
    keys: dict[str, pl.DataFrame],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Integer ids for users and items: the data's own if all are integers, else 1..N."""
    if users is None:
        users = ratings.select(
            pl.col("user_key").unique().sort(),
            pl.lit(None, pl.Int32).alias("age"),
            pl.lit(None, pl.String).alias("gender"),
            pl.lit(None, pl.String).alias("occupation"),
            pl.lit(None, pl.UInt32).alias("line"),
        )
    frames = {"ratings": ratings, "items": items, "users": users}
    for what in ("user", "item"):
        key, column = f"{what}_key", f"{what}_id"
        holders = [n for n, f in frames.items() if key in f.columns]
        series = [frames[n][key] for n in holders]
        if integer_ids(series):
            for n in holders:
                frames[n] = frames[n].with_columns(pl.col(key).cast(pl.Int64).alias(column))
        else:
            every = pl.concat(series).unique().sort()
            table = pl.DataFrame({key: every}).with_row_index(column, offset=1)
            table = table.with_columns(pl.col(column).cast(pl.Int64))
            keys[what] = table.select(column, pl.col(key).alias("key"))
            for n in holders:
                frames[n] = frames[n].join(table, on=key, how="left", maintain_order="left")
        for n in holders:
            frames[n] = frames[n].drop(key)
    return frames["ratings"], frames["items"], frames["users"]
