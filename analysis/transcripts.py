"""Human transcripts a team exports from its own assistant, as a `DialogueSet`.

Three formats, told apart by their content (or named with `--format`):

- **convai2**: a JSON list of `{dialog: [{sender_class: Human|Bot, text}], eval_score}`;
- **sharegpt**: a JSON list (or JSONL) of `{conversations: [{from: human|gpt|system, value}]}`;
- **openai**: JSONL (or a JSON list) of `{messages: [{role: system|user|assistant|tool, content}]}`,
  the chat-completions shape fine-tuning files use.

The person is known from the role: `human` / `user` is the user, `gpt` /
`assistant` the system under test. System prompts and tool messages are not
turns of either side and are left out. Content given as a list of parts keeps
its text parts. Dialogue ids are `<file stem>:<index>`, as for ConvAI2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis.dialogues import (
    DIALOGUES_SCHEMA,
    MESSAGES_SCHEMA,
    DialogueError,
    DialogueSet,
    convai2_rows,
    dialogue_files,
)
from personas.validation import first_error

Format = Literal["auto", "convai2", "sharegpt", "openai"]
FORMATS: tuple[str, ...] = ("auto", "convai2", "sharegpt", "openai")
_KEYS = {"dialog": "convai2", "conversations": "sharegpt", "messages": "openai"}
_EXPECTED = (
    "ConvAI2 JSON (a list of {dialog: [...]}), ShareGPT ({conversations: [{from, value}]}) "
    "or OpenAI messages JSONL ({messages: [{role, content}]})"
)


class _ShareTurn(BaseModel):
    # Strict: lax mode would read a number as text.
    model_config = ConfigDict(extra="allow", strict=True)

    from_: Literal["human", "gpt", "system"] = Field(alias="from")
    value: str


class _ShareGPT(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    conversations: list[_ShareTurn]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    text: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_Part] | None = None


class _OpenAI(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    messages: list[_Message]


_ROLES = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant"}


def load_transcripts(path: str | Path, format: Format = "auto") -> DialogueSet:
    """Human dialogues from a file, or from every `*.json` / `*.jsonl` in a folder.

    Raises:
        DialogueError: naming the file, the record (index or line) and the field.
    """
    if format not in FORMATS:
        raise DialogueError(f"--format {format!r}: choose one of {', '.join(FORMATS)}")
    files = dialogue_files(Path(path), ("*.json", "*.jsonl"), "dialogues")
    sets = [_load_file(file, format) for file in files]
    return DialogueSet(
        messages=pl.concat([s.messages for s in sets]),
        dialogues=pl.concat([s.dialogues for s in sets]),
    )


def _load_file(path: Path, format: Format) -> DialogueSet:
    records, where = _records(path)
    kind = format if format != "auto" else _detect(path, records)
    if kind == "convai2":
        if where[0].startswith("line"):
            raise DialogueError(f"{path}: ConvAI2 dialogues are one JSON list, not JSON lines")
        rows, heads = convai2_rows(path, records)
        return DialogueSet(
            messages=pl.DataFrame(rows, schema=MESSAGES_SCHEMA, orient="row"),
            dialogues=pl.DataFrame(heads, schema=DIALOGUES_SCHEMA, orient="row"),
        )
    messages: list[dict[str, object]] = []
    dialogues: list[dict[str, object]] = []
    for index, (record, place) in enumerate(zip(records, where, strict=True)):
        turns = _turns(path, place, record, kind)
        dialogue_id = f"{path.stem}:{index}"
        dialogues.append(
            {
                "dialogue_id": dialogue_id,
                "persona_id": None,
                "stop_reason": None,
                "satisfaction": None,
            }
        )
        messages.extend(
            {"dialogue_id": dialogue_id, "turn": turn, "role": role, "text": text}
            for turn, (role, text) in enumerate(turns)
        )
    return DialogueSet(
        messages=pl.DataFrame(messages, schema=MESSAGES_SCHEMA, orient="row"),
        dialogues=pl.DataFrame(dialogues, schema=DIALOGUES_SCHEMA, orient="row"),
    )


def _records(path: Path) -> tuple[list[Any], list[str]]:
    """The file's records and where each is ("dialogue 3" in a list, "line 4" in JSONL)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DialogueError(f"{path}: cannot read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        if "\n" not in text.strip():
            raise DialogueError(f"{path}: not JSON or JSON lines; expected {_EXPECTED}") from None
    except RecursionError:
        raise DialogueError(f"{path}: nested too deeply to be dialogues") from None
    if isinstance(data, list):
        return data, [f"dialogue {i}" for i in range(len(data))]
    if isinstance(data, dict):  # JSON lines with one line is one object
        return [data], ["line 1"]
    records, where = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DialogueError(f"{path}: line {number}: not JSON ({exc})") from None
        where.append(f"line {number}")
    return records, where


def _detect(path: Path, records: list[Any]) -> str:
    for record in records:
        if isinstance(record, dict):
            for key, kind in _KEYS.items():
                if key in record:
                    return kind
    raise DialogueError(
        f"{path}: not a format of human dialogues simfolk reads; expected {_EXPECTED}"
    )


def _turns(path: Path, place: str, record: Any, kind: str) -> list[tuple[str, str]]:
    try:
        if kind == "sharegpt":
            chat = _ShareGPT.model_validate(record)
            return [(_ROLES[t.from_], t.value) for t in chat.conversations if t.from_ != "system"]
        messages = _OpenAI.model_validate(record).messages
    except ValidationError as exc:
        field, message = first_error(exc)
        at = f", field {field.replace('from_', 'from')}" if field else ""
        raise DialogueError(f"{path}: {place}{at}: {message} (read as {kind})") from None
    turns = []
    for m in messages:
        if m.role not in _ROLES:
            continue  # system, developer and tool messages are neither side's turn
        if isinstance(m.content, list):
            text = "\n".join(p.text for p in m.content if p.type == "text" and p.text is not None)
        else:
            text = m.content or ""
        turns.append((_ROLES[m.role], text))
    return turns
