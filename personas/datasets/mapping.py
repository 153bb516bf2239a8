"""The mapping file of an interaction log: which column is what, in which units, in which words.

A folder of your own data holds one table of interactions (CSV, TSV, Parquet or
JSONL), optionally an item table and a user table, and ``simfolk-data.yaml``
saying how to read them::

    version: 1
    name: podcasts                 # the dataset's name (default: the folder's)
    interactions:
      file: listens.csv
      user: listener               # column names in that file
      item: episode
      time: {column: started_at, unit: iso}          # seconds | milliseconds | iso
      rating: {column: stars, low: 1, high: 5, step: 1}
    items:
      file: episodes.parquet
      item: episode
      title: name
      categories: {column: topics, separator: "|"}   # a list column needs no separator
      year: released
    users:
      file: listeners.jsonl
      user: listener
      age: age
      gender: gender
      occupation: job
    words: {item: episode, items: episodes, consume: listen to, consumed: listened to}

``version``, ``interactions.file``, ``.user`` and ``.item`` are required. A log
without ``rating`` is *implicit*: each row is one consumption (a play, a click, a
purchase), or ``weight: {column: plays}`` of them; no rating is ever invented for
it. A log without ``time`` is split per user by a fixed hash of (user, item), and
its visits keep the activity priors. See the README's "Your own interaction logs".
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from personas.datasets.dataset import FILM_WORDS, Words
from personas.datasets.errors import DatasetError
from personas.io import read_data
from personas.validation import first_error

MAPPING_FILE = "simfolk-data.yaml"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAPPING_VERSION = 1
TableFormat = Literal["csv", "tsv", "parquet", "jsonl"]
SUFFIXES: dict[str, TableFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeColumn(_Strict):
    """When each interaction happened, and in which unit the column gives it."""

    column: str
    unit: Literal["seconds", "milliseconds", "iso"]


class RatingColumn(_Strict):
    """An explicit rating and the scale it is on: ``low`` to ``high`` in steps of ``step``."""

    column: str
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    step: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> RatingColumn:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high:g}) must be above low ({self.low:g})")
        steps = (self.high - self.low) / self.step
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"step ({self.step:g}) must divide high - low ({self.high - self.low:g}) "
                "into whole steps"
            )
        return self


class WeightColumn(_Strict):
    """How many times a row's user consumed its item (plays, clicks); a whole number >= 1."""

    column: str


class CategoryColumn(_Strict):
    """An item's categories: a list column, or a string joined by ``separator``.

    ``vocabulary``, when given, is every category there is, in the order the
    simulator lists them; a category outside it is an error. Without it, the
    vocabulary is the categories the items use, sorted.
    """

    column: str
    separator: str | None = Field(default=None, min_length=1)
    vocabulary: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> CategoryColumn:
        if self.vocabulary is not None and len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("vocabulary lists a category twice")
        return self


class Table(_Strict):
    """A file of the data folder, and how to read it.

    The format is told by the suffix unless given. For CSV and TSV: ``header``
    (false: the first line is data, and ``names`` names the columns in order),
    ``encoding`` and the ``quote`` character (null: none, as in plain TSV).
    """

    file: str = Field(min_length=1)
    format: TableFormat | None = None
    header: bool = True
    names: list[str] | None = Field(default=None, min_length=1)
    encoding: Literal["utf-8", "latin-1"] = "utf-8"
    quote: str | None = Field(default='"', min_length=1, max_length=1)

    @model_validator(mode="after")
    def _named(self) -> Table:
        if not self.header and self.names is None:
            raise ValueError("a file without a header needs names: [its columns, in order]")
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError("names lists a column twice")
        return self

    def table_format(self) -> TableFormat | None:
        """The stated format, or the one the file's suffix names (None: unknown)."""
        return self.format or SUFFIXES.get(Path(self.file).suffix.lower())


class Interactions(Table):
    """The interaction table: who, what, when, and a rating or how many times."""

    user: str
    item: str
    time: TimeColumn | None = None
    rating: RatingColumn | None = None
    weight: WeightColumn | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Interactions:
        if self.rating is not None and self.weight is not None:
            raise ValueError(
                "give rating (explicit feedback) or weight (implicit: how many times), not both"
            )
        return self


class Items(Table):
    """The item table: every item the interactions name, with what a persona sees of it."""

    item: str
    title: str | None = None
    categories: CategoryColumn | None = None
    year: str | None = None


class Users(Table):
    """The user table: demographics where the data has them."""

    user: str
    age: str | None = None
    gender: str | None = None
    occupation: str | None = None


class WordsKey(_Strict):
    """What the domain calls an item and consuming one (default: movies, watched)."""

    item: str = Field(default=FILM_WORDS.item, min_length=1, max_length=40)
    items: str = Field(default=FILM_WORDS.items, min_length=1, max_length=40)
    consume: str = Field(default=FILM_WORDS.consume, min_length=1, max_length=40)
    consumed: str = Field(default=FILM_WORDS.consumed, min_length=1, max_length=40)

    def words(self) -> Words:
        """As the dataset carries them."""
        return Words(self.item, self.items, self.consume, self.consumed)


class Mapping(_Strict):
    """A whole ``simfolk-data.yaml``."""

    version: Literal[1]
    name: str | None = Field(default=None, min_length=1, pattern=NAME_PATTERN)
    # Where the tables are: beside the mapping unless given; may start with ${SIMFOLK_DATA}.
    folder: str | None = Field(default=None, min_length=1)
    interactions: Interactions
    items: Items | None = None
    users: Users | None = None
    words: WordsKey = WordsKey()


DATA_VARIABLE = "${SIMFOLK_DATA}"


def data_folder(mapping: Mapping, path: Path, data_root: Path | None) -> Path:
    """The folder the tables are in: the mapping's own, or its ``folder`` key.

    The mapping is trusted as a config is: it says where your data is, anywhere you
    can read. Its tables must be files of that folder (no ``..``, no absolute paths),
    which keeps a mapping and the data it reads together.

    Args:
        mapping: The mapping.
        path: The mapping file.
        data_root: What ``${SIMFOLK_DATA}`` stands for (None: unset).

    Raises:
        DatasetError: When ``folder`` uses ``${SIMFOLK_DATA}`` and it is unset, or
            the folder does not exist.
    """
    if mapping.folder is None:
        return path.parent
    text = mapping.folder
    rest = text[len(DATA_VARIABLE) :] if text.startswith(DATA_VARIABLE) else None
    if rest is not None and rest and not rest.startswith("/"):
        raise DatasetError(f"{path}, key folder: {DATA_VARIABLE} must be followed by / or nothing")
    if text.startswith(DATA_VARIABLE):
        if data_root is None:
            raise DatasetError(
                f"{path}, key folder: {text!r} needs SIMFOLK_DATA, which is not set "
                "(set it to the folder that holds your datasets)"
            )
        text = str(data_root) + text[len(DATA_VARIABLE) :]
    elif "$" in text:
        raise DatasetError(f"{path}, key folder: only {DATA_VARIABLE} may be used in it")
    folder = Path(text) if Path(text).is_absolute() else path.parent / text
    if not folder.is_dir():
        raise DatasetError(f"{path}, key folder: {folder} is not a folder")
    return folder.resolve()


def read_mapping(path: Path) -> Mapping:
    """Read and check a mapping file.

    Raises:
        DatasetError: Naming the file, the key and the reason.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: mapping file not found")
    data = read_data(path, what="mapping file", error=DatasetError)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a mapping file is a YAML mapping (keys: version, ...)")
    try:
        mapping = Mapping.model_validate(data, strict=True)
    except ValidationError as exc:
        place, message = first_error(exc)
        raise DatasetError(f"{path}, key {place or 'the top level'}: {message}") from None
    for key, table in (("interactions", mapping.interactions), *_optional(mapping)):
        if table.table_format() is None:
            raise DatasetError(
                f"{path}, key {key}.file: cannot tell the format of {table.file!r} from its "
                f"suffix; name it .csv, .tsv, .parquet or .jsonl, or give {key}.format"
            )
        if Path(table.file).is_absolute() or ".." in Path(table.file).parts:
            raise DatasetError(
                f"{path}, key {key}.file: {table.file!r} must be a file in the data folder"
            )
    return mapping


def _optional(mapping: Mapping) -> list[tuple[str, Table]]:
    tables: list[tuple[str, Table]] = []
    if mapping.items is not None:
        tables.append(("items", mapping.items))
    if mapping.users is not None:
        tables.append(("users", mapping.users))
    return tables
