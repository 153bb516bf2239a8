"""Load and save personas as YAML or JSON, with errors that name file, field and reason."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from personas.atomic import write_text_atomically
from personas.schema import PERSONA_SCHEMA_VERSION, Persona
from personas.validation import first_error


class PersonaFileError(ValueError):
    """A persona file that cannot be read; the message says where and why."""


M = TypeVar("M", bound=BaseModel)


def validate_records(
    path: Path,
    section: str,
    records: list[Any],
    model: type[M],
    error: type[PersonaFileError] = PersonaFileError,
) -> list[M]:
    """Each record as `model`; the first that does not fit names the file, field and reason."""
    out: list[M] = []
    for index, record in enumerate(records):
        try:
            # Through JSON and strict: "5" and true are not numbers, 5.0 is not an id,
            # and a NaN from YAML is refused (a JSON file cannot hold one).
            text = json.dumps(record, default=str, allow_nan=False)
        except ValueError:
            raise error(f"{path}: {section}[{index}]: a value is not a finite number") from None
        try:
            out.append(model.model_validate_json(text, strict=True))
        except ValidationError as exc:
            field, message = first_error(exc, prefix=(section, index))
            raise error(f"{path}: {field}: {message}") from exc
    return out


def read_data(
    path: Path, what: str = "persona file", error: type[ValueError] = PersonaFileError
) -> Any:
    """The data of a YAML or JSON file, read safely (no tags, no aliases, bounded depth).

    Args:
        path: The file (.yaml, .yml or .json).
        what: What the file is meant to be, for the messages.
        error: The error to raise (each file kind has its own).

    Raises:
        error: When it is not UTF-8, not valid YAML/JSON, or nests too deep.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}: line {line}: not UTF-8 text ({exc.reason})") from None
    if "\0" in text:
        raise error(f"{path}: holds NUL bytes: a binary file, not YAML or JSON")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        except RecursionError:
            data = _TOO_DEEP
    elif path.suffix in (".yaml", ".yml"):
        loader = _Loader
        try:
            # Checked first, from the event stream: building a deep tree overflows the C stack.
            refusal = _yaml_refusal(text, loader, what)
            if refusal is not None:
                raise error(f"{path}: {refusal}")
            data = yaml.load(text, Loader=loader)
        except yaml.YAMLError as exc:
            raise error(f"{path}: not valid YAML ({exc})") from exc
    else:
        raise error(f"{path}: unknown {what} type; use .yaml, .yml or .json")
    if data is _TOO_DEEP or _depth(data) > MAX_DEPTH:
        raise error(f"{path}: nested more than {MAX_DEPTH} deep: not a {what}")
    return data


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, reading `1e-3` as the number YAML 1.2 says it is (1.1 said a string)."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The safe dumper, quoting a string like `1e-3` that the loader would read as a number."""


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _side in (_Loader, _Dumper):
    _side.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


# A persona is a handful of levels deep; far deeper is a hostile or broken file.
MAX_DEPTH = 32
_TOO_DEEP = object()


def _yaml_refusal(text: str, loader: Any, what: str) -> str | None:
    """Why the YAML is refused before it is built, read from its event stream, or None."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            # An alias repeats a whole subtree: a few lines can stand for billions of values.
            return f"uses YAML aliases (*name), which a {what} has no need of"
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} deep: not a {what}"
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
    return None


def _depth(data: Any) -> int:
    """How deep lists and mappings nest (iteratively: a deep value must not overflow here)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend(
                    (v, level + 1) for v in (value.values() if isinstance(value, dict) else value)
                )
    return deepest


def load_personas(path: str | os.PathLike[str]) -> list[Persona]:
    """Read a persona file: `{"schema_version": 1, "personas": [...]}`, or a bare list."""
    path = Path(path)
    if not path.is_file():
        raise PersonaFileError(f"{path}: no such persona file")
    data = read_data(path)
    if isinstance(data, dict):
        version = data.get("schema_version", PERSONA_SCHEMA_VERSION)
        if version != PERSONA_SCHEMA_VERSION:
            raise PersonaFileError(
                f"{path}: schema_version: this simfolk reads version {PERSONA_SCHEMA_VERSION}, "
                f"the file has {version!r}"
            )
        data = data.get("personas")
    if not isinstance(data, list):
        raise PersonaFileError(f"{path}: personas: expected a list of personas")
    personas = validate_records(path, "personas", data, Persona)
    ids = [p.id for p in personas]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise PersonaFileError(f"{path}: personas: duplicate id {duplicate!r}")
    return personas


def save_personas(personas: Sequence[Persona], path: str | os.PathLike[str]) -> Path:
    """Write personas atomically as YAML or JSON (by suffix)."""
    path = Path(path)
    payload = {
        "schema_version": PERSONA_SCHEMA_VERSION,
        "personas": [p.model_dump(mode="json", exclude_defaults=False) for p in personas],
    }
    if path.suffix == ".json":
        text = json.dumps(payload, indent=1, ensure_ascii=False)
    elif path.suffix in (".yaml", ".yml"):
        text = yaml.dump(payload, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    else:
        raise PersonaFileError(f"{path}: unknown persona file type; use .yaml, .yml or .json")
    return write_text_atomically(path, text)
