"""Dataset files into checked fields: read once as bytes, split and typed with polars.

The bytes are hashed and then decoded; lines and fields are cut with polars, so
every check is vectorized and still reports the first bad line by number (and the
field by the format's own name for it).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from personas.datasets.dataset import NO_GENRE, RatingScale
from personas.datasets.errors import DatasetError, at, shown

# Unix seconds at 2100-01-01: a later timestamp is milliseconds, or not a time at all.
LATEST_TIMESTAMP = 4_102_444_800

# ---------------------------------------------------------------------------
# Files and lines


class Files:
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

    def add(self, path: Path) -> None:
        """Read one more file, from anywhere, into the digest (under its file name)."""
        try:
            self.data[path.name] = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read: {exc}") from exc

    def has(self, file_name: str) -> bool:
        """Tell whether the file was there to read."""
        return file_name in self.data

    def path(self, file_name: str) -> Path:
        """The full path of a file of the folder."""
        return self.folder / file_name

    def text(self, file_name: str, encoding: str) -> str:
        """A file's bytes decoded, or a DatasetError at the first line that is not valid."""
        raw = self.data[file_name]
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise at(self.path(file_name), f"not valid {encoding}: {exc.reason}", line) from exc

    def sha256(self) -> str:
        """Hex digest over the files read: each one's name, size and bytes."""
        # Sorted by file name so the digest never depends on reading order; the size
        # separates one file's bytes from the next name.
        digest = hashlib.sha256()
        for file_name in sorted(self.data):
            raw = self.data[file_name]
            digest.update(file_name.encode())
            digest.update(len(raw).to_bytes(8, "little"))
            digest.update(raw)
        return digest.hexdigest()


def split_lines(text: str) -> pl.DataFrame:
    """Split text into non-blank lines, keeping each one's 1-based line number."""
    lines = pl.Series("text", [text]).str.split("\n").explode()
    return (
        pl.DataFrame({"text": lines})
        .with_row_index("line", offset=1)
        .with_columns(pl.col("text").str.strip_suffix("\r"))
        .filter(pl.col("text").str.strip_chars().str.len_bytes() > 0)
    )


def drop_header(lines: pl.DataFrame, path: Path, names: Sequence[str]) -> pl.DataFrame:
    """Check that the first line is the header `names` and drop it."""
    if lines.height == 0:
        raise at(path, f"empty file: expected header {','.join(names)!r}")
    header = lines["text"][0].lstrip("\ufeff")
    found = [h.strip().strip('"') for h in header.split(",")]
    if found != list(names):
        raise at(path, f"expected header {','.join(names)!r}, found {header!r}", lines["line"][0])
    return lines.slice(1)


def split_fields(lines: pl.DataFrame, path: Path, sep: str, names: Sequence[str]) -> pl.DataFrame:
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


def read_csv_rows(path: Path, text: str, names: Sequence[str]) -> pl.DataFrame:
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


# ---------------------------------------------------------------------------
# Field checks and conversions


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, column: str) -> tuple[int, str] | None:
    rows = frame.filter(bad).select("line", column)
    if rows.height == 0:
        return None
    return int(rows["line"][0]), str(rows[column][0])


def as_int(column: str, strict: bool = True) -> pl.Expr:
    """A string column stripped and cast to Int64 (null where it is none, if not strict)."""
    return pl.col(column).str.strip_chars().cast(pl.Int64, strict=strict)


def check_int(frame: pl.DataFrame, path: Path, column: str) -> None:
    """Raise at the first value of `column` that is not an integer."""
    bad = _first_bad(frame, as_int(column, strict=False).is_null(), column)
    if bad:
        raise at(path, f"not an integer: {shown(bad[1])}", bad[0], column)


def check_in(
    frame: pl.DataFrame, path: Path, column: str, allowed: Iterable[str], reason: str
) -> None:
    """Raise, giving `reason`, at the first value of `column` not in `allowed`."""
    bad = _first_bad(frame, ~pl.col(column).is_in(list(allowed)), column)
    if bad:
        raise at(path, f"{reason}: {shown(bad[1])}", bad[0], column)


def typed_ratings(
    fields: pl.DataFrame, path: Path, names: Sequence[str], scale: RatingScale
) -> pl.DataFrame:
    """Convert split rating fields (user, item, rating, timestamp) into typed columns."""
    user, item, rating, stamp = names
    for column in (user, item, stamp):
        check_int(fields, path, column)
    parsed = pl.col(rating).str.strip_chars().cast(pl.Float64, strict=False)
    bad = _first_bad(fields, parsed.is_null(), rating)
    if bad:
        raise at(path, f"not a number: {shown(bad[1])}", bad[0], rating)
    typed = fields.select(
        "line",
        as_int(user).alias("user_id"),
        as_int(item).alias("item_id"),
        parsed.alias("rating"),
        as_int(stamp).alias("timestamp"),
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
    bad = _first_bad(typed, pl.col("timestamp") > LATEST_TIMESTAMP, "timestamp")
    if bad:
        raise at(
            path,
            f"timestamp {bad[1]} is after the year 2100: unix seconds are expected "
            "(is it milliseconds?)",
            bad[0],
            stamp,
        )
    return typed


def split_genres(frame: pl.DataFrame, path: Path, column: str, vocab: Sequence[str]) -> pl.Series:
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
        raise at(path, f"unknown genre {shown(bad[1])} (known: {', '.join(vocab)})", bad[0], column)
    placeholders = list(NO_GENRE)
    return lists["genres"].list.eval(pl.element().filter(~pl.element().is_in(placeholders)))
