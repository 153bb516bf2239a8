"""Readers for the MovieLens formats: ml-100k, ml-1m and ml-latest (incl. ml-latest-small).

Each reader turns a folder into a :class:`Dataset` with the same frames and types
whatever the format. Files are read as bytes once (those bytes are hashed and then
parsed) and split into lines and fields with polars, so validation is vectorized
and still reports the first bad line by number.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from personas.datasets.errors import DatasetError, at
from personas.datasets.split import canonical_sort

Format = Literal["ml-100k", "ml-1m", "ml-latest"]

# Item-genre placeholders: an item carrying only these has no genre.
NO_GENRE = frozenset({"unknown", "(no genres listed)"})

GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
GENRES_1M = tuple(g for g in GENRES_100K if g != "unknown")
GENRES_LATEST = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
AGES_1M = (1, 18, 25, 35, 45, 50, 56)
OCCUPATIONS_1M = (
    "other or not specified",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)

# Which file marks which format, in the order they are looked for.
MARKERS: tuple[tuple[str, Format], ...] = (
    ("u.data", "ml-100k"),
    ("ratings.dat", "ml-1m"),
    ("ratings.csv", "ml-latest"),
)

_YEAR_IN_TITLE = r"\(([0-9]{4})\)\s*$"
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
class RatingScale:
    """The ratings a dataset allows: ``low`` to ``high`` in steps of ``step``.

    Attributes:
        low: The lowest rating.
        high: The highest rating.
        step: The distance between allowed ratings.
    """

    low: float
    high: float
    step: float

    def contains(self, value: float) -> bool:
        """Tell whether a rating is in range and on the step grid.

        Args:
            value: The rating to check.

        Returns:
            True when ``low <= value <= high`` and ``value - low`` is a whole number of steps.
        """
        eps = 1e-9 * self.step
        if not (self.low - eps <= value <= self.high + eps):
            return False
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) <= 1e-9

    def snap(self, value: float) -> float:
        """The allowed rating nearest to ``value`` (clipped to the range).

        Args:
            value: Any real number.

        Returns:
            A rating that :meth:`contains` accepts.
        """
        steps = round((value - self.low) / self.step)
        return float(min(max(self.low + steps * self.step, self.low), self.high))

    def expr(self, column: str) -> pl.Expr:
        """Build the vectorized form of :meth:`contains` over a column.

        Args:
            column: The name of a float column.

        Returns:
            A boolean expression, null where the column is null.
        """
        eps = 1e-9 * self.step
        col = pl.col(column)
        steps = (col - self.low) / self.step
        return (
            col.is_between(self.low - eps, self.high + eps)
            & ((steps - steps.round(0)).abs() <= 1e-9)
            & col.is_not_nan()
        )


SCALE_5 = RatingScale(1.0, 5.0, 1.0)
SCALE_HALF = RatingScale(0.5, 5.0, 0.5)


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A MovieLens dataset read into polars frames of one shape whatever the format.

    Attributes:
        name: The known name it was loaded by, or the folder name when given a path.
        path: The folder read.
        format: Which MovieLens file format the folder holds.
        sha256: Hex digest over the files read, in a fixed order (file name, size, bytes).
        items: ``item_id:Int64, title:String, year:Int32, genres:List(String)``, by item_id.
        ratings: ``user_id:Int64, item_id:Int64, rating:Float64, timestamp:Int64``
            (unix seconds), sorted by user_id, timestamp, item_id.
        users: ``user_id:Int64, age:Int32, gender:String, occupation:String``; one row
            per user in ratings, sorted; demographics are null where the format has none.
        genres: The genre vocabulary in the dataset's own order, without the
            placeholders ("unknown", "(no genres listed)") that stand for no genre.
        rating_scale: The ratings the format allows.
    """

    name: str
    path: Path
    format: Format
    sha256: str
    items: pl.DataFrame
    ratings: pl.DataFrame
    users: pl.DataFrame
    genres: tuple[str, ...]
    rating_scale: RatingScale

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, format={self.format!r}, path='{self.path}', "
            f"items={self.items.height}, ratings={self.ratings.height}, "
            f"users={self.users.height}, sha256={self.sha256[:12]}...)"
        )


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
    files = _Files(folder, required=("u.data", "u.item", "u.user"), optional=("u.genre",))
    genre_file = files.path("u.genre")
    if files.has("u.genre"):
        vocab = _parse_genre_file(genre_file, files.text("u.genre", "latin-1"))
    else:
        vocab = GENRES_100K

    u_item = files.path("u.item")
    names = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *vocab]
    lines = _lines(files.text("u.item", "latin-1"))
    fields = _split(lines, u_item, "|", names)
    _check_int(fields, u_item, "movie id")
    flags = list(vocab)
    for flag in flags:
        _check_in(fields, u_item, flag, ("0", "1"), "genre flag must be 0 or 1")
    genre_list = pl.concat_list(
        [pl.when(pl.col(g) == "1").then(pl.lit(g)) for g in flags if g not in NO_GENRE]
        or [pl.lit(None, pl.String)]
    ).list.drop_nulls()
    title = pl.col("movie title").str.strip_chars()
    items = fields.select(
        "line",
        _int("movie id").alias("item_id"),
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
    fields = _split(
        _lines(files.text("u.data", "latin-1")),
        u_data,
        "\t",
        ["user id", "item id", "rating", "timestamp"],
    )
    ratings = _ratings(fields, u_data, ("user id", "item id", "rating", "timestamp"), SCALE_5)

    u_user = files.path("u.user")
    fields = _split(
        _lines(files.text("u.user", "latin-1")),
        u_user,
        "|",
        ["user id", "age", "gender", "occupation", "zip code"],
    )
    _check_int(fields, u_user, "user id")
    _check_int(fields, u_user, "age")
    users = fields.select(
        "line",
        _int("user id").alias("user_id"),
        _int("age").cast(pl.Int32).alias("age"),
        pl.col("gender").str.strip_chars().alias("gender"),
        pl.col("occupation").str.strip_chars().alias("occupation"),
    )
    genres = tuple(g for g in vocab if g not in NO_GENRE)
    return _assemble(name, folder, "ml-100k", files, items, ratings, users, genres, SCALE_5)


def _read_1m(folder: Path, name: str) -> Dataset:
    files = _Files(folder, required=("movies.dat", "ratings.dat", "users.dat"))

    movies = files.path("movies.dat")
    lines = _lines(files.text("movies.dat", "latin-1"))
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
    _check_int(parts, movies, "MovieID")
    genre_lists = _genre_lists(parts, movies, "Genres", GENRES_1M)
    title = pl.col("Title").str.strip_chars()
    items = parts.select(
        "line",
        _int("MovieID").alias("item_id"),
        title.alias("title"),
        title.str.extract(_YEAR_IN_TITLE, 1).cast(pl.Int32).alias("year"),
    ).with_columns(genres=genre_lists)

    ratings_path = files.path("ratings.dat")
    names = ("UserID", "MovieID", "Rating", "Timestamp")
    fields = _split(_lines(files.text("ratings.dat", "latin-1")), ratings_path, "::", names)
    ratings = _ratings(fields, ratings_path, names, SCALE_5)

    users_path = files.path("users.dat")
    names_u = ("UserID", "Gender", "Age", "Occupation", "Zip-code")
    fields = _split(_lines(files.text("users.dat", "latin-1")), users_path, "::", names_u)
    _check_int(fields, users_path, "UserID")
    _check_in(fields, users_path, "Age", [str(a) for a in AGES_1M], f"age code not in {AGES_1M}")
    codes = [str(i) for i in range(len(OCCUPATIONS_1M))]
    _check_in(fields, users_path, "Occupation", codes, "occupation code not in 0..20")
    users = fields.select(
        "line",
        _int("UserID").alias("user_id"),
        pl.col("Age").cast(pl.Int32).alias("age"),
        pl.col("Gender").str.strip_chars().alias("gender"),
        pl.col("Occupation")
        .replace_strict(codes, list(OCCUPATIONS_1M), return_dtype=pl.String)
        .alias("occupation"),
    )
    return _assemble(name, folder, "ml-1m", files, items, ratings, users, GENRES_1M, SCALE_5)


def _read_latest(folder: Path, name: str) -> Dataset:
    files = _Files(folder, required=("movies.csv", "ratings.csv"))

    movies = files.path("movies.csv")
    parts = _read_csv_rows(
        movies, files.text("movies.csv", "utf-8"), ("movieId", "title", "genres")
    )
    _check_int(parts, movies, "movieId")
    title = pl.col("title").str.strip_chars()
    items = parts.select(
        "line",
        _int("movieId").alias("item_id"),
        title.alias("title"),
        title.str.extract(_YEAR_IN_TITLE, 1).cast(pl.Int32).alias("year"),
    ).with_columns(genres=_genre_lists(parts, movies, "genres", GENRES_LATEST))

    ratings_path = files.path("ratings.csv")
    names = ("userId", "movieId", "rating", "timestamp")
    lines = _lines(files.text("ratings.csv", "utf-8"))
    lines = _drop_header(lines, ratings_path, names)
    # Ratings files hold numbers only, so plain splitting on ',' is exact.
    fields = _split(lines, ratings_path, ",", names)
    ratings = _ratings(fields, ratings_path, names, SCALE_HALF)

    users = ratings.select(
        pl.col("user_id").unique(),
        pl.lit(None, pl.Int32).alias("age"),
        pl.lit(None, pl.String).alias("gender"),
        pl.lit(None, pl.String).alias("occupation"),
    ).with_columns(line=pl.lit(None, pl.UInt32))
    return _assemble(
        name, folder, "ml-latest", files, items, ratings, users, GENRES_LATEST, SCALE_HALF
    )


# ---------------------------------------------------------------------------
# Files and lines


class _Files:
    """The files of one dataset folder, read once as bytes and hashed."""

    def __init__(self, folder: Path, required: Sequence[str], optional: Sequence[str] = ()):
        self.folder = folder
        self.data: dict[str, bytes] = {}
        for file_name in (*required, *optional):
            path = folder / file_name
            if not path.is_file():
                if file_name in required:
                    raise DatasetError(f"{path}: file not found (the format needs it)")
                continue
            try:
                self.data[file_name] = path.read_bytes()
            except OSError as exc:
                raise DatasetError(f"{path}: cannot read: {exc}") from exc

    def has(self, file_name: str) -> bool:
        return file_name in self.data

    def path(self, file_name: str) -> Path:
        return self.folder / file_name

    def text(self, file_name: str, encoding: str) -> str:
        raw = self.data[file_name]
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise at(self.path(file_name), f"not valid {encoding}: {exc.reason}", line) from exc

    def sha256(self) -> str:
        # Sorted by file name so the digest never depends on reading order; the size
        # separates one file's bytes from the next name.
        digest = hashlib.sha256()
        for file_name in sorted(self.data):
            raw = self.data[file_name]
            digest.update(file_name.encode())
            digest.update(len(raw).to_bytes(8, "little"))
            digest.update(raw)
        return digest.hexdigest()


def _lines(text: str) -> pl.DataFrame:
    """Split text into non-blank lines, keeping each one's 1-based line number."""
    lines = pl.Series("text", [text]).str.split("\n").explode()
    return (
        pl.DataFrame({"text": lines})
        .with_row_index("line", offset=1)
        .with_columns(pl.col("text").str.strip_suffix("\r"))
        .filter(pl.col("text").str.strip_chars().str.len_bytes() > 0)
    )


def _drop_header(lines: pl.DataFrame, path: Path, names: Sequence[str]) -> pl.DataFrame:
    if lines.height == 0:
        raise at(path, f"empty file: expected header {','.join(names)!r}")
    header = lines["text"][0].lstrip("\ufeff")
    found = [h.strip().strip('"') for h in header.split(",")]
    if found != list(names):
        raise at(path, f"expected header {','.join(names)!r}, found {header!r}", lines["line"][0])
    return lines.slice(1)


def _split(lines: pl.DataFrame, path: Path, sep: str, names: Sequence[str]) -> pl.DataFrame:
    """Split each line into exactly ``len(names)`` string fields, or raise at the first bad line."""
    count = pl.col("text").str.count_matches(sep, literal=True) + 1
    bad = lines.filter(count != len(names)).select("line", count.alias("n"))
    if bad.height:
        raise at(
            path,
            f"expected {len(names)} fields separated by {sep!r}, found {bad['n'][0]}",
            bad["line"][0],
        )
    return lines.select(
        "line",
        pl.col("text")
        .str.split_exact(sep, len(names) - 1)
        .struct.rename_fields(list(names))
        .alias("fields"),
    ).unnest("fields")


def _read_csv_rows(path: Path, text: str, names: Sequence[str]) -> pl.DataFrame:
    """Read a quoted CSV file with a header into string columns plus line numbers."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        raise at(path, f"empty file: expected header {','.join(names)!r}")
    if [h.strip() for h in header] != list(names):
        raise at(path, f"expected header {','.join(names)!r}, found {','.join(header)!r}", 1)
    columns: list[list[str]] = [[] for _ in names]
    lines: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(names):
                raise at(path, f"expected {len(names)} fields, found {len(row)}", reader.line_num)
            lines.append(reader.line_num)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    except csv.Error as exc:
        raise at(path, f"bad CSV: {exc}", reader.line_num) from exc
    frame = {"line": pl.Series(lines, dtype=pl.UInt32)}
    frame.update({n: pl.Series(c, dtype=pl.String) for n, c in zip(names, columns, strict=True)})
    return pl.DataFrame(frame)


def _parse_genre_file(path: Path, text: str) -> tuple[str, ...]:
    """Read u.genre ("name|index" lines) into names ordered by index."""
    fields = _split(_lines(text), path, "|", ["genre", "index"])
    _check_int(fields, path, "index")
    fields = fields.with_columns(_int("index"), pl.col("genre").str.strip_chars()).sort("index")
    if fields["index"].to_list() != list(range(fields.height)):
        raise at(path, f"genre indexes must be 0..{fields.height - 1}, each once")
    dup = fields.filter(pl.col("genre").is_duplicated()).sort("line")
    if dup.height:
        raise at(path, f"genre {dup['genre'][0]!r} is listed twice", int(dup["line"][1]))
    return tuple(fields["genre"].to_list())


# ---------------------------------------------------------------------------
# Field checks and conversions


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, column: str) -> tuple[int, str] | None:
    rows = frame.filter(bad).select("line", column)
    if rows.height == 0:
        return None
    return int(rows["line"][0]), str(rows[column][0])


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _int(column: str, strict: bool = True) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Int64, strict=strict)


def _check_int(frame: pl.DataFrame, path: Path, column: str) -> None:
    bad = _first_bad(frame, _int(column, strict=False).is_null(), column)
    if bad:
        raise at(path, f"not an integer: {_show(bad[1])}", bad[0], column)


def _check_in(
    frame: pl.DataFrame, path: Path, column: str, allowed: Iterable[str], reason: str
) -> None:
    bad = _first_bad(frame, ~pl.col(column).is_in(list(allowed)), column)
    if bad:
        raise at(path, f"{reason}: {_show(bad[1])}", bad[0], column)


def _ratings(
    fields: pl.DataFrame, path: Path, names: Sequence[str], scale: RatingScale
) -> pl.DataFrame:
    """Convert split rating fields (user, item, rating, timestamp) into typed columns."""
    user, item, rating, stamp = names
    for column in (user, item, stamp):
        _check_int(fields, path, column)
    parsed = pl.col(rating).str.strip_chars().cast(pl.Float64, strict=False)
    bad = _first_bad(fields, parsed.is_null(), rating)
    if bad:
        raise at(path, f"not a number: {_show(bad[1])}", bad[0], rating)
    typed = fields.select(
        "line",
        _int(user).alias("user_id"),
        _int(item).alias("item_id"),
        parsed.alias("rating"),
        _int(stamp).alias("timestamp"),
    )
    bad = _first_bad(typed, ~scale.expr("rating"), "rating")
    if bad:
        raise at(
            path,
            f"rating {bad[1]} is not on the scale {scale.low:g}..{scale.high:g} "
            f"in steps of {scale.step:g}",
            bad[0],
            rating,
        )
    bad = _first_bad(typed, pl.col("timestamp") < 0, "timestamp")
    if bad:
        raise at(path, f"negative timestamp {bad[1]}", bad[0], stamp)
    return typed


def _genre_lists(frame: pl.DataFrame, path: Path, column: str, vocab: Sequence[str]) -> pl.Series:
    """Split '|'-joined genres, checking each against the vocabulary; placeholders mean none."""
    lists = frame.select(
        "line", pl.col(column).str.strip_chars().str.split("|").alias("genres")
    ).with_columns(
        pl.col("genres").list.eval(
            pl.element().str.strip_chars().filter(pl.element().str.len_bytes() > 0)
        )
    )
    exploded = lists.explode("genres").drop_nulls("genres")
    known = [*vocab, *NO_GENRE]
    bad = _first_bad(exploded, ~pl.col("genres").is_in(known), "genres")
    if bad:
        raise at(path, f"unknown genre {_show(bad[1])} (known: {', '.join(vocab)})", bad[0], column)
    placeholders = list(NO_GENRE)
    return lists["genres"].list.eval(pl.element().filter(~pl.element().is_in(placeholders)))


# ---------------------------------------------------------------------------
# Cross-file checks and the final frames


def _assemble(
    name: str,
    folder: Path,
    fmt: Format,
    files: _Files,
    items: pl.DataFrame,
    ratings: pl.DataFrame,
    users: pl.DataFrame,
    genres: tuple[str, ...],
    scale: RatingScale,
) -> Dataset:
    items_file, ratings_file, users_file = _file_names(fmt)
    _check_unique(items, folder / items_file, "item_id")
    if fmt != "ml-latest":
        _check_unique(users, folder / users_file, "user_id")

    missing = ratings.filter(~pl.col("item_id").is_in(items["item_id"].implode()))
    if missing.height:
        raise at(
            folder / ratings_file,
            f"item {missing['item_id'][0]} is not in {folder / items_file}",
            int(missing["line"][0]),
        )
    missing = ratings.filter(~pl.col("user_id").is_in(users["user_id"].implode()))
    if missing.height:
        raise at(
            folder / ratings_file,
            f"user {missing['user_id'][0]} is not in {folder / users_file}",
            int(missing["line"][0]),
        )

    rated = ratings["user_id"].unique().implode()
    return Dataset(
        name=name,
        path=folder,
        format=fmt,
        sha256=files.sha256(),
        items=_typed(items.sort("item_id"), _ITEM_SCHEMA),
        ratings=canonical_sort(_typed(ratings, _RATING_SCHEMA)),
        users=_typed(users.filter(pl.col("user_id").is_in(rated)).sort("user_id"), _USER_SCHEMA),
        genres=genres,
        rating_scale=scale,
    )


def _file_names(fmt: Format) -> tuple[str, str, str]:
    """Items, ratings and users file names of a format (ml-latest has no users file)."""
    return {
        "ml-100k": ("u.item", "u.data", "u.user"),
        "ml-1m": ("movies.dat", "ratings.dat", "users.dat"),
        "ml-latest": ("movies.csv", "ratings.csv", "ratings.csv"),
    }[fmt]


def _check_unique(frame: pl.DataFrame, path: Path, column: str) -> None:
    dup = frame.filter(pl.col(column).is_duplicated()).sort("line")
    if dup.height:
        # Report the second occurrence: the first one is where the id was defined.
        first = dup.filter(pl.col(column) == dup[column][0])
        raise at(path, f"duplicate {column} {dup[column][0]}", int(first["line"][1]))


def _typed(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
