"""A table file (CSV, TSV, Parquet, JSONL) read into checked string columns.

Every format is brought to one form before anything is typed: one String
column per mapped column (a list column stays a list of strings), plus
``line``, the row's 1-based number among the data rows. The typing and the
checks are then the same whatever the format, and every message names the
file, the row, the column and the reason.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from personas.datasets.errors import DatasetError, at, shown
from personas.datasets.mapping import Table, TableFormat
from personas.datasets.parsing import LATEST_TIMESTAMP

ROW = "row"  # how a data row is named in messages: "file, row 12, column 'stars': ..."
# The row number's column while the file's own columns are there too: no file has this name.
ROW_INDEX = "__simfolk_row__"


def read_table(path: Path, raw: bytes, spec: Table, columns: dict[str, str]) -> pl.DataFrame:
    """The mapped columns of a table as strings (lists stay lists), with the row number.

    Args:
        path: The file, for messages.
        raw: Its bytes (read once, and hashed by the caller).
        spec: How the mapping says to read it.
        columns: Mapping key (e.g. ``interactions.user``) → the file's column name.

    Raises:
        DatasetError: When the file cannot be parsed or a mapped column is not in it.
    """
    fmt = spec.table_format()
    if fmt is None:  # read_mapping has refused this already
        raise DatasetError(f"{path}: cannot tell the file's format")
    if spec.encoding == "latin-1" and fmt in ("csv", "tsv"):
        raw = raw.decode("latin-1").encode("utf-8")
    try:
        frame = _parse(raw, fmt, spec)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: not a valid {fmt.upper()} file ({first})") from None
    missing = [(key, name) for key, name in columns.items() if name not in frame.columns]
    if missing:
        key, name = missing[0]
        shown = ", ".join(repr(c) for c in frame.columns[:20])
        raise DatasetError(
            f"{path}: no column {name!r} (the mapping's {key}); the file has: {shown or 'none'}"
        )
    wanted = list(dict.fromkeys(columns.values()))
    for key, name in columns.items():
        dtype = frame.schema[name]
        lists_allowed = key == "items.categories.column"
        if isinstance(dtype, (pl.List, pl.Array)) and not lists_allowed:
            raise DatasetError(
                f"{path}, column {name!r}: holds lists; the mapping's {key} needs one value a row"
            )
        if isinstance(dtype, (pl.List, pl.Array)) and isinstance(dtype.inner, (pl.List, pl.Struct)):
            raise DatasetError(f"{path}, column {name!r}: holds nested lists; give categories flat")
        if isinstance(dtype, pl.Struct):
            raise DatasetError(
                f"{path}, column {name!r}: holds objects; the mapping's {key} needs one value a row"
            )
    if ROW_INDEX in frame.columns:
        raise DatasetError(
            f"{path}: a column is named {ROW_INDEX!r}, which simfolk keeps for itself"
        )
    return frame.select([_as_text(frame, name) for name in wanted]).with_row_index(
        ROW_INDEX, offset=1
    )


def _parse(raw: bytes, fmt: TableFormat, spec: Table) -> pl.DataFrame:
    if fmt in ("csv", "tsv"):
        return pl.read_csv(
            io.BytesIO(raw),
            separator="\t" if fmt == "tsv" else ",",
            has_header=spec.header,
            new_columns=spec.names,
            infer_schema=False,  # every column as text: the checks below type them
            encoding="utf8",
            quote_char=spec.quote,
        )
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(raw))
    if not raw.strip():
        return pl.DataFrame()
    return pl.read_ndjson(io.BytesIO(raw), infer_schema_length=None)


def _as_text(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    column = pl.col(name)
    if isinstance(dtype, pl.List):
        return column.cast(pl.List(pl.String))
    if dtype == pl.String:
        return column
    if dtype.is_float():
        # Parquet from pandas stores integer ids, years and ages as floats once a value is
        # missing: whole numbers read back as integers ("12"), others as they are ("4.5").
        values = frame[name].drop_nulls().drop_nans()
        whole = bool(values.len()) and bool((values == values.round(0)).all())
        if whole and bool((values.abs() < 2**53).all()):
            return column.cast(pl.Int64, strict=False).cast(pl.String)
        return column.cast(pl.String)
    if isinstance(dtype, pl.Datetime):
        # A time without a zone is UTC, as in text; the ISO reader then takes it.
        zoned = column.dt.replace_time_zone("UTC") if dtype.time_zone is None else column
        return zoned.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.f%z")
    return column.cast(pl.String, strict=False)


def first_bad(frame: pl.DataFrame, bad: pl.Expr, column: str) -> tuple[int, str] | None:
    """The row number and value of the first row where `bad` holds, or None."""
    rows = frame.filter(bad.fill_null(True)).select(ROW_INDEX, pl.col(column).cast(pl.String))
    if rows.height == 0:
        return None
    value = rows[column][0]
    return int(rows[ROW_INDEX][0]), "<empty>" if value is None else str(value)


def at_row(path: Path, row: int | None, column: str | None, reason: str) -> DatasetError:
    """An error located at a file, data row and column."""
    return at(path, reason, row, column, unit=ROW, part="column")


def text_ids(frame: pl.DataFrame, path: Path, column: str) -> pl.Expr:
    """The id column stripped, after checking that no row leaves it empty."""
    stripped = pl.col(column).str.strip_chars()
    bad = first_bad(frame, stripped.str.len_chars() == 0, column)
    if bad:
        raise at_row(path, bad[0], column, "an id is empty")
    return stripped


def numbers(frame: pl.DataFrame, path: Path, column: str) -> pl.Expr:
    """A column parsed as finite floats, or an error at the first row that is not one."""
    parsed = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    bad = first_bad(frame, parsed.is_null() | ~parsed.is_finite(), column)
    if bad:
        raise at_row(path, bad[0], column, f"not a number: {shown(bad[1])}")
    return parsed


def counts(frame: pl.DataFrame, path: Path, column: str) -> pl.Expr:
    """A column of whole numbers >= 1 (how many times), or an error at the first that is not."""
    value = numbers(frame, path, column)
    checked = frame.select(ROW_INDEX, value.alias(_SECONDS), pl.col(column))
    bad = first_bad(checked, (pl.col(_SECONDS) < 1) | (pl.col(_SECONDS) > 2**53), column)
    if bad is None:
        bad = first_bad(checked, pl.col(_SECONDS) != pl.col(_SECONDS).floor(), column)
    if bad:
        raise at_row(path, bad[0], column, f"a count must be a whole number >= 1: {shown(bad[1])}")
    return value.cast(pl.Int64)


def unix_seconds(frame: pl.DataFrame, path: Path, column: str, unit: str) -> pl.Expr:
    """A time column as whole unix seconds, from seconds, milliseconds or ISO 8601."""
    if unit == "iso":
        parsed = pl.col(column).map_elements(_iso_seconds, return_dtype=pl.Int64)
        bad = first_bad(frame, parsed.is_null(), column)
        if bad:
            raise at_row(
                path,
                bad[0],
                column,
                f"not an ISO 8601 time: {shown(bad[1])} (e.g. 2024-05-01T18:30:00Z)",
            )
        seconds = parsed
    else:
        value = numbers(frame, path, column)
        seconds = (value / 1000.0 if unit == "milliseconds" else value).floor()
    # Checked as floats, before a cast a huge number would fail in.
    checked = frame.select(ROW_INDEX, seconds.cast(pl.Float64).alias(_SECONDS), pl.col(column))
    bad = first_bad(checked, pl.col(_SECONDS) < 0, column)
    if bad:
        raise at_row(path, bad[0], column, f"a time before 1970: {shown(bad[1])}")
    bad = first_bad(checked, pl.col(_SECONDS) > LATEST_TIMESTAMP, column)
    if bad:
        hint = " (is it milliseconds? say unit: milliseconds)" if unit == "seconds" else ""
        raise at_row(path, bad[0], column, f"a time after the year 2100: {shown(bad[1])}{hint}")
    return seconds.cast(pl.Int64)


_SECONDS = "__simfolk_seconds__"


def _iso_seconds(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a time without a zone is read as UTC
        return int(moment.timestamp() // 1)
    except (ValueError, OverflowError):
        return None


def integer_ids(values: Sequence[pl.Series]) -> bool:
    """Whether every id in every column is an integer written plainly (then ids are kept).

    "007" is not: kept as 7 it would be the same user as "7".
    """
    for series in values:
        parsed = series.cast(pl.Int64, strict=False)
        if not parsed.cast(pl.String).eq_missing(series).all():
            return False
    return True
