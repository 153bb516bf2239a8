"""From a dataset name or folder path to a loaded :class:`Dataset`.

Names are looked up under the folder named by the ``SIMFOLK_DATA`` environment
variable; ml-latest-small also ships with the package, so it loads without it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from personas.datasets.dataset import Dataset
from personas.datasets.errors import DatasetError
from personas.datasets.logs import is_log_folder, read_log
from personas.datasets.mapping import MAPPING_FILE
from personas.datasets.movielens import read_folder

DATA_ENV = "SIMFOLK_DATA"
BUNDLED = "ml-latest-small"
_KNOWN = ("ml-latest-small", "ml-100k", "ml-1m")


def known_datasets() -> tuple[str, ...]:
    """List the dataset names :func:`load_dataset` accepts.

    Returns:
        The names, bundled one first.
    """
    return _KNOWN


def data_root() -> Path | None:
    """Give the folder that holds the datasets, from ``SIMFOLK_DATA``.

    Returns:
        ``Path(os.environ["SIMFOLK_DATA"])``, or None when it is unset or empty.
    """
    value = os.environ.get(DATA_ENV)
    return Path(value) if value else None


def bundled_path() -> Path:
    """Give the folder of the ml-latest-small copy that ships with the package.

    Returns:
        The folder.
    """
    return Path(str(resources.files("personas.datasets") / "data" / BUNDLED))


def resolve(
    name_or_path: str | os.PathLike[str], known: tuple[str, ...] = _KNOWN
) -> tuple[str, Path]:
    """Turn a dataset name or folder path into the dataset's name and its folder.

    A PathLike, or a string naming an existing directory, is a path; its name is
    the folder's name. Any other string must be a known name.

    Args:
        name_or_path: A known name (see :func:`known_datasets`) or a folder.
        known: The names this reader knows (default: the MovieLens ones).

    Returns:
        The name and the absolute folder.

    Raises:
        DatasetError: When the name is unknown or its folder cannot be found.
    """
    if not isinstance(name_or_path, str) or os.path.isdir(name_or_path):
        folder = Path(os.path.abspath(os.fspath(name_or_path)))
        if not folder.is_dir():
            what = "not a folder" if folder.exists() else "dataset folder not found"
            raise DatasetError(f"{folder}: {what}")
        return folder.name, folder

    name = name_or_path
    names = ", ".join(known)
    if name not in known:
        raise DatasetError(
            f"unknown dataset {name!r}: not a known name and no such folder "
            f"({os.path.abspath(name)}); known names: {names}"
        )
    root = data_root()
    if root is not None and (root / name).is_dir():
        return name, Path(os.path.abspath(root / name))
    if name == BUNDLED:
        return name, bundled_path()
    where = (
        f"{DATA_ENV} is not set" if root is None else f"{DATA_ENV} is {root}, which has no {name}/"
    )
    raise DatasetError(
        f"dataset {name!r} not found: set {DATA_ENV} to the folder that holds {name}/ "
        f"({where}), or pass the dataset's path; known names: {names}"
    )


def load_dataset(name_or_path: str | os.PathLike[str]) -> Dataset:
    """Load a dataset by name or folder path.

    A folder with a mapping file (``simfolk-data.yaml``), or the path of a
    mapping file (``.yaml``), is your own interaction log, read as the mapping
    says; any other folder is MovieLens, its format (ml-100k, ml-1m or
    ml-latest) told by the files in it.

    Args:
        name_or_path: A known name ("ml-latest-small", "ml-100k", "ml-1m"), a folder,
            or a mapping file.

    Returns:
        The dataset.

    Raises:
        DatasetError: When it cannot be found, or a file is missing or malformed.
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")):
        mapping = Path(os.path.abspath(text))
        if not mapping.is_file():
            raise DatasetError(f"{mapping}: mapping file not found")
        return read_log(mapping, data_root())
    name, folder = resolve(name_or_path)
    if is_log_folder(folder):
        return read_log(folder / MAPPING_FILE, data_root(), name)
    return read_folder(folder, name)
