"""The one error the dataset readers raise."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset could not be found or read.

    The message names the file or folder (full path) and, where known, the line,
    the field and the reason, so that it can be acted on without a debugger.
    """


def at(
    path: Path,
    reason: str,
    line: int | None = None,
    field: str | None = None,
    *,
    unit: str = "line",
    part: str = "field",
) -> DatasetError:
    """Build a DatasetError located at a file, line and field.

    Args:
        path: The file the problem is in.
        reason: What is wrong, in words.
        line: The 1-based line number in the file, if known.
        field: The name of the field (as the file format calls it), if known.
        unit: What `line` counts ("line"; "row" for the data rows of a table).
        part: What `field` names ("field"; "column" for a table's columns).

    Returns:
        The error, ready to raise.
    """
    where = str(path)
    if line is not None:
        where += f", {unit} {line}"
    if field is not None:
        where += f", {part} {field!r}"
    return DatasetError(f"{where}: {reason}")


def shown(value: str) -> str:
    """A value from a file, quoted and cut to 40 characters, for a message."""
    return repr(value if len(value) <= 40 else value[:40] + "...")
