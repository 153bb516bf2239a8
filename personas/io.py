"""Load and save personas as YAML or JSON, with errors that name file, field and reason."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from personas.atomic import write_text_atomically
from personas.schema import PERSONA_SCHEMA_VERSION, Persona


class PersonaFileError(ValueError):
    """A persona file that cannot be read; the message says where and why."""


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


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
            out.append(model.model_validate(record))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = _field_path([section, index, *first["loc"]])
            raise error(f"{path}: {field}: {first['msg']}") from exc
    return out


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PersonaFileError(
                f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})"
            ) from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise PersonaFileError(f"{path}: not valid YAML ({exc})") from exc
    raise PersonaFileError(f"{path}: unknown persona file type; use .yaml, .yml or .json")


def load_personas(path: str | os.PathLike[str]) -> list[Persona]:
    """Read a persona file: `{"schema_version": 1, "personas": [...]}`, or a bare list."""
    path = Path(path)
    if not path.is_file():
        raise PersonaFileError(f"{path}: no such persona file")
    data = _parse(path)
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
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(payload, Dumper=dumper, sort_keys=False, allow_unicode=True)
    else:
        raise PersonaFileError(f"{path}: unknown persona file type; use .yaml, .yml or .json")
    return write_text_atomically(path, text)
