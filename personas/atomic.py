"""Files that are either wholly there or not at all, even across a power cut.

Write to a temporary name, fsync it, rename it over the target, fsync the
folder: a reader (or a resumed run) never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(path.name + ".tmp")


def replace_atomically(tmp: Path, path: Path) -> None:
    """Make the fully written `tmp` durable and rename it to `path`."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_text_atomically(path: Path, text: str) -> Path:
    """Write UTF-8 text to `path` atomically and durably."""
    tmp = temporary_path(path)
    tmp.write_text(text, encoding="utf-8")
    replace_atomically(tmp, path)
    return path
