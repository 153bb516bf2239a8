"""Readers for the MovieLens formats: ml-100k, ml-1m and ml-latest (incl. ml-latest-small).

Each reader turns a folder into a :class:`Dataset` with the same frames and types
whatever the format: it reads the files into checked fields
(:mod:`personas.datasets.parsing`), converts them, and checks across the files
that every rating's item and user are defined.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from personas.datasets.assemble import Tables, assemble
from personas.datasets.dataset import (
    AGES_1M,
    GENRES_1M,
    GENRES_100K,
    GENRES_LATEST,
    NO_GENRE,
    OCCUPATIONS_1M,
    SCALE_5,
    SCALE_HALF,
    Dataset,
    Format,
    RatingScale,
)
from personas.datasets.errors import DatasetError, at
from personas.datasets.parsing import (
    Files,
    as_int,
    check_in,
    check_int,
    drop_header,
    read_csv_rows,
    split_fields,
    split_genres,
    split_lines,
    typed_ratings,
)

# Which file marks which format, in the order they are looked for.
MARKERS: tuple[tuple[str, Format], ...] = (
    ("u.data", "ml-100k"),
    ("ratings.dat", "ml-1m"),
    ("ratings.csv", "ml-latest"),
)

_YEAR_IN_TITLE = r"\(([0-9]{4})\)\s*$"


def detect_format(folder: Path) -> Format:
    """Tell which MovieLens format a folder holds, by the ratings file in it.

    Args:
        folder: The dataset folder.

    Returns:
        The format name.

    Raises:
        DatasetError: When no known ratings file is there.
    """
    for marker, fmt in MARKERS:
        if (folder / marker).is_file():
            return fmt
    looked = ", ".join(f"{m} ({f})" for m, f in MARKERS)
    raise DatasetError(f"{folder}: not a MovieLens folder: found none of {looked}")


def read_folder(folder: Path, name: str) -> Dataset:
    """Read a MovieLens folder in whichever format it holds.

    Args:
        folder: The dataset folder (absolute).
        name: The name to give the dataset.

    Returns:
        The dataset.

    Raises:
        DatasetError: When a file is missing or malformed.
    """
    fmt = detect_format(folder)
    reader = {"ml-100k": _read_100k, "ml-1m": _read_1m, "ml-latest": _read_latest}[fmt]
    return reader(folder, name)


# ---------------------------------------------------------------------------
# Formats


def _read_100k(folder: Path, name: str) -> Dataset:
    files = Files(folder, required=("u.data", "u.item", "u.user"), optional=("u.genre",))
    genre_file = files.path("u.genre")
    if files.has("u.genre"):
        vocab = _parse_genre_file(genre_file, files.text("u.genre", "latin-1"))
    else:
        vocab = GENRES_100K

    u_item = files.path("u.item")
    names = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *vocab]
    lines = split_lines(files.text("u.item", "latin-1"))
    fields = split_fields(lines, u_item, "|", names)
    check_int(fields, u_item, "movie id")
    flags = list(vocab)
    for flag in flags:
        check_in(fields, u_item, flag, ("0", "1"), "genre flag must be 0 or 1")
    genre_list = pl.concat_list(
        [pl.when(pl.col(g) == "1").then(pl.lit(g)) for g in flags if g not in NO_GENRE]
        or [pl.lit(None, pl.String)]
    ).list.drop_nulls()
    title = pl.col("movie title").str.strip_chars()
    items = fields.select(
        "line",
        as_int("movie id").alias("item_id"),
        title.alias("title"),
        pl.coalesce(
            title.str.extract(_YEAR_IN_TITLE, 1),
            pl.col("release date").str.strip_chars().str.extract(r"([0-9]{4})$", 1),
        )
        .cast(pl.Int32)
        .alias("year"),
        genre_list.alias("genres"),
    )

    u_data = files.path("u.data")
    fields = split_fields(
        split_lines(files.text("u.data", "latin-1")),
        u_data,
        "\t",
        ["user id", "item id", "rating", "timestamp"],
    )
    ratings = typed_ratings(fields, u_data, ("user id", "item id", "rating", "timestamp"), SCALE_5)

    u_user = files.path("u.user")
    fields = split_fields(
        split_lines(files.text("u.user", "latin-1")),
        u_user,
        "|",
        ["user id", "age", "gender", "occupation", "zip code"],
    )
    check_int(fields, u_user, "user id")
    check_int(fields, u_user, "age")
    users = fields.select(
        "line",
        as_int("user id").alias("user_id"),
        as_int("age").cast(pl.Int32).alias("age"),
        pl.col("gender").str.strip_chars().alias("gender"),
        pl.col("occupation").str.strip_chars().alias("occupation"),
    )
    genres = tuple(g for g in vocab if g not in NO_GENRE)
    return _assemble(name, folder, "ml-100k", files, items, ratings, users, genres, SCALE_5)


def _parse_genre_file(path: Path, text: str) -> tuple[str, ...]:
    """Read u.genre ("name|index" lines) into names ordered by index."""
    fields = split_fields(split_lines(text), path, "|", ["genre", "index"])
    check_int(fields, path, "index")
    fields = fields.with_columns(as_int("index"), pl.col("genre").str.strip_chars()).sort("index")
    if fields["index"].to_list() != list(range(fields.height)):
        raise at(path, f"genre indexes must be 0..{fields.height - 1}, each once")
    dup = fields.filter(pl.col("genre").is_duplicated()).sort("line")
    if dup.height:
        raise at(path, f"genre {dup['genre'][0]!r} is listed twice", int(dup["line"][1]))
    return tuple(fields["genre"].to_list())


def _read_1m(folder: Path, name: str) -> Dataset:
    files = Files(folder, required=("movies.dat", "ratings.dat", "users.dat"))

    movies = files.path("movies.dat")
    lines = split_lines(files.text("movies.dat", "latin-1"))
    # Titles may hold ':' and even '::'; ids and genres never hold ':', so the id ends
    # at the first '::' and the genres start after the last one.
    parts = lines.with_columns(
        pl.col("text")
        .str.extract_groups(r"^([^:]*)::(.*)::([^:]*)$")
        .struct.rename_fields(["MovieID", "Title", "Genres"])
        .alias("parts")
    ).unnest("parts")
    bad = parts.filter(pl.col("MovieID").is_null())
    if bad.height:
        raise at(movies, "expected 3 fields MovieID::Title::Genres", line=bad["line"][0])
    check_int(parts, movies, "MovieID")
    genre_lists = split_genres(parts, movies, "Genres", GENRES_1M)
    title = pl.col("Title").str.strip_chars()
    items = parts.select(
        "line",
        as_int("MovieID").alias("item_id"),
        title.alias("title"),
        title.str.extract(_YEAR_IN_TITLE, 1).cast(pl.Int32).alias("year"),
    ).with_columns(genres=genre_lists)

    ratings_path = files.path("ratings.dat")
    names = ("UserID", "MovieID", "Rating", "Timestamp")
    fields = split_fields(
        split_lines(files.text("ratings.dat", "latin-1")), ratings_path, "::", names
    )
    ratings = typed_ratings(fields, ratings_path, names, SCALE_5)

    users_path = files.path("users.dat")
    names_u = ("UserID", "Gender", "Age", "Occupation", "Zip-code")
    fields = split_fields(
        split_lines(files.text("users.dat", "latin-1")), users_path, "::", names_u
    )
    check_int(fields, users_path, "UserID")
    check_in(fields, users_path, "Age", [str(a) for a in AGES_1M], f"age code not in {AGES_1M}")
    codes = [str(i) for i in range(len(OCCUPATIONS_1M))]
    check_in(fields, users_path, "Occupation", codes, "occupation code not in 0..20")
    users = fields.select(
        "line",
        as_int("UserID").alias("user_id"),
        pl.col("Age").cast(pl.Int32).alias("age"),
        pl.col("Gender").str.strip_chars().alias("gender"),
        pl.col("Occupation")
        .replace_strict(codes, list(OCCUPATIONS_1M), return_dtype=pl.String)
        .alias("occupation"),
    )
    return _assemble(name, folder, "ml-1m", files, items, ratings, users, GENRES_1M, SCALE_5)


def _read_latest(folder: Path, name: str) -> Dataset:
    files = Files(folder, required=("movies.csv", "ratings.csv"))

    movies = files.path("movies.csv")
    parts = read_csv_rows(movies, files.text("movies.csv", "utf-8"), ("movieId", "title", "genres"))
    check_int(parts, movies, "movieId")
    title = pl.col("title").str.strip_chars()
    items = parts.select(
        "line",
        as_int("movieId").alias("item_id"),
        title.alias("title"),
        title.str.extract(_YEAR_IN_TITLE, 1).cast(pl.Int32).alias("year"),
    ).with_columns(genres=split_genres(parts, movies, "genres", GENRES_LATEST))

    ratings_path = files.path("ratings.csv")
    names = ("userId", "movieId", "rating", "timestamp")
    lines = split_lines(files.text("ratings.csv", "utf-8"))
    lines = drop_header(lines, ratings_path, names)
    # Ratings files hold numbers only, so plain splitting on ',' is exact.
    fields = split_fields(lines, ratings_path, ",", names)
    ratings = typed_ratings(fields, ratings_path, names, SCALE_HALF)

    users = ratings.select(
        pl.col("user_id").unique(),
        pl.lit(None, pl.Int32).alias("age"),
        pl.lit(None, pl.String).alias("gender"),
        pl.lit(None, pl.String).alias("occupation"),
    ).with_columns(line=pl.lit(None, pl.UInt32))
    return _assemble(
        name, folder, "ml-latest", files, items, ratings, users, GENRES_LATEST, SCALE_HALF
    )


def _assemble(
    name: str,
    folder: Path,
    fmt: Format,
    files: Files,
    items: pl.DataFrame,
    ratings: pl.DataFrame,
    users: pl.DataFrame,
    genres: tuple[str, ...],
    scale: RatingScale,
) -> Dataset:
    items_file, ratings_file, users_file = {
        "ml-100k": ("u.item", "u.data", "u.user"),
        "ml-1m": ("movies.dat", "ratings.dat", "users.dat"),
        "ml-latest": ("movies.csv", "ratings.csv", "ratings.csv"),
    }[fmt]
    tables = Tables(
        items=items,
        ratings=ratings,
        users=users,
        items_path=folder / items_file,
        ratings_path=folder / ratings_file,
        users_path=folder / users_file if fmt != "ml-latest" else None,
    )
    return assemble(name, folder, fmt, files.sha256(), tables, genres, scale)
