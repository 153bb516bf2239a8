"""Code the user already has, named by a ref: "package.module:attr".

A chatbot, a recommender or any other system under test written in Python is
imported where it lives rather than copied in. Refs resolve from the import
path plus the folder simfolk is run from (the `simfolk` script's own path
starts at its bin folder, not there).
"""

from __future__ import annotations

import importlib.util
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any


def is_ref(text: str) -> bool:
    """Whether `text` has a ref's shape (a module, a colon, an attribute; not a URL)."""
    module, colon, attr = text.partition(":")
    return bool(colon and module and attr) and not attr.startswith("//")


def load_ref(ref: str) -> Any:
    """The object a "package.module:attr" ref names, imported.

    Args:
        ref: the module's dotted name, a colon, and the attribute (dotted if nested).

    Returns:
        The object.

    Raises:
        ValueError: the ref is not in that form, or cannot be imported.
    """
    if not is_ref(ref):
        raise ValueError(f"ref {ref!r} must look like 'package.module:attr'")
    try:
        with importable_from(Path.cwd()):
            return pkgutil.resolve_name(ref)
    except ImportError as exc:
        raise ValueError(
            f"cannot import {ref!r}: {exc}; install the package, or run from the folder "
            f"that holds it (or add that folder to PYTHONPATH)"
        ) from exc
    except AttributeError as exc:
        raise ValueError(f"cannot load {ref!r}: {exc}; check the name after the colon") from exc


@contextmanager
def importable_from(folder: Path) -> Iterator[None]:
    """`folder` on the import path for the duration (if it was not already)."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            sys.path.remove(entry)


class NotPython(ImportError):
    """A file no loader takes for Python (e.g. not named *.py)."""


def import_file(path: Path, name: str) -> ModuleType:
    """Run the Python file at `path` as a module called `name` (a scenario script).

    Raises:
        NotPython: the file cannot be imported as Python.
        Exception: whatever running the file raises.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NotPython(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
