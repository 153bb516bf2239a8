"""Dialogues as two polars frames, from a run's trace or from ConvAI2 JSON.

Both sources become a `DialogueSet`: `messages` (one row per message, in
order) and `dialogues` (one row per dialogue). Roles are the chat-API ones:
"user" is the person (a persona, or a ConvAI2 Human) and "assistant" the
system under test (the chatbot, or a ConvAI2 Bot).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analysis.frames import load_events
from personas.validation import first_error

MESSAGES_SCHEMA = {
    "dialogue_id": pl.String,
    "turn": pl.Int32,  # index of the message in its dialogue, from 0
    "role": pl.String,  # "user" | "assistant"
    "text": pl.String,
}
DIALOGUES_SCHEMA = {
    "dialogue_id": pl.String,
    "persona_id": pl.String,  # null for real dialogues
    "stop_reason": pl.String,  # null for real dialogues (people do not say why they left)
    "satisfaction": pl.Float64,  # 1-5: ConvAI2's eval_score; a persona's last assessment
}


class DialogueError(ValueError):
    """Dialogue data that cannot be read; the message names the file, the place and why."""


@dataclass(frozen=True)
class DialogueSet:
    """Messages and dialogues, keyed by `dialogue_id`."""

    messages: pl.DataFrame
    dialogues: pl.DataFrame

    def ids(self) -> list[str]:
        """Dialogue ids, sorted."""
        return sorted(self.dialogues["dialogue_id"].to_list())

    def subset(self, ids: Iterable[str]) -> DialogueSet:
        """Only the dialogues with these ids."""
        # Imploded: `is_in` with a bare Series of the column's type is deprecated in polars.
        keep = pl.Series("dialogue_id", list(ids), dtype=pl.String).implode()
        return DialogueSet(
            messages=self.messages.filter(pl.col("dialogue_id").is_in(keep)),
            dialogues=self.dialogues.filter(pl.col("dialogue_id").is_in(keep)),
        )

    def conversations(self) -> dict[str, list[tuple[str, str]]]:
        """Dialogue id to its [(role, text), ...] in order; every dialogue, even an empty one."""
        out: dict[str, list[tuple[str, str]]] = {i: [] for i in self.ids()}
        for row in self.messages.sort("dialogue_id", "turn").iter_rows(named=True):
            out[row["dialogue_id"]].append((row["role"], row["text"]))
        return out


# --- ConvAI2 ------------------------------------------------------------------------------


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    sender_class: Literal["Human", "Bot"]
    text: str


class _Dialogue(BaseModel):
    model_config = ConfigDict(extra="allow")

    dialog: list[_Message]
    # Strict: lax mode would read `true` as a score of 1 and "3" as 3.
    eval_score: int | None = Field(default=None, ge=1, le=5, strict=True)


def _convai2_file(path: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DialogueError(f"{path}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DialogueError(f"{path}: not JSON ({exc})") from exc
    return convai2_rows(path, data)


def convai2_rows(
    path: Path, data: object
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Message and dialogue rows of one ConvAI2 file's parsed JSON (`path` names it in errors)."""
    if not isinstance(data, list):
        raise DialogueError(f"{path}: expected a list of dialogues, found {type(data).__name__}")
    messages: list[dict[str, object]] = []
    dialogues: list[dict[str, object]] = []
    for index, raw in enumerate(data):
        try:
            dialogue = _Dialogue.model_validate(raw)
        except ValidationError as exc:
            field, reason = first_error(exc)
            at = f", field {field}" if field else ""  # none when the dialogue is not an object
            raise DialogueError(f"{path}: dialogue {index}{at}: {reason}") from None
        dialogue_id = f"{path.stem}:{index}"
        dialogues.append(
            {
                "dialogue_id": dialogue_id,
                "persona_id": None,
                "stop_reason": None,
                "satisfaction": None if dialogue.eval_score is None else float(dialogue.eval_score),
            }
        )
        for turn, message in enumerate(dialogue.dialog):
            role = "user" if message.sender_class == "Human" else "assistant"
            messages.append(
                {"dialogue_id": dialogue_id, "turn": turn, "role": role, "text": message.text}
            )
    return messages, dialogues


def dialogue_files(path: Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    """`path` itself if a file, else its files matching `patterns`, sorted.

    Raises:
        DialogueError: When the path is missing, or a folder with no such files.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DialogueError(f"{path}: no such file or folder")
    files = sorted(f for pattern in patterns for f in path.glob(pattern))
    if not files:
        shown = " or ".join(patterns)
        raise DialogueError(f"{path}: no {shown} files of {what} in this folder")
    return files


def load_convai2(path: str | Path) -> DialogueSet:
    """ConvAI2 chats from a JSON file, or from every `*.json` in a folder.

    Each file is a list of dialogues with `dialog` [{sender_class: Human|Bot,
    text, ...}] and an optional `eval_score` (1-5). Dialogue ids are
    `<file stem>:<index>`.

    Raises:
        DialogueError: naming the file, the dialogue and the field, if one does not fit.
    """
    files = dialogue_files(Path(path), ("*.json",), "ConvAI2 dialogues")
    messages: list[dict[str, object]] = []
    dialogues: list[dict[str, object]] = []
    for file in files:
        m, d = _convai2_file(file)
        messages.extend(m)
        dialogues.extend(d)
    return DialogueSet(
        messages=pl.DataFrame(messages, schema=MESSAGES_SCHEMA, orient="row"),
        dialogues=pl.DataFrame(dialogues, schema=DIALOGUES_SCHEMA, orient="row"),
    )


# --- a run's trace ------------------------------------------------------------------------


def dialogue_id(persona_id: str, session: int) -> str:
    """The id of a persona's `session`-th dialogue."""
    return f"{persona_id}/{session}"


def dialogues_from_events(events: pl.DataFrame) -> DialogueSet:
    """The dialogues in a trace frame (see simulator.trace.schema)."""
    key = pl.concat_str([pl.col("persona_id"), pl.col("session").cast(pl.String)], separator="/")
    messages = (
        events.filter(pl.col("event") == "message")
        .sort("seq")
        .select(
            key.alias("dialogue_id"),
            pl.col("turn").cast(pl.Int32),
            "role",
            pl.col("text").fill_null(""),
        )
    )
    started = events.filter(pl.col("event") == "dialogue_start").select(
        key.alias("dialogue_id"), "persona_id"
    )
    ended = events.filter(pl.col("event") == "dialogue_end").select(
        key.alias("dialogue_id"), pl.col("reason").alias("stop_reason")
    )
    assessed = (
        events.filter(pl.col("event") == "assessment")
        .sort("seq")
        .group_by(key.alias("dialogue_id"))
        .agg(pl.col("rating").last().cast(pl.Float64).alias("satisfaction"))
    )
    dialogues = (
        started.join(ended, on="dialogue_id", how="left")
        .join(assessed, on="dialogue_id", how="left")
        .select(list(DIALOGUES_SCHEMA))
        .cast(DIALOGUES_SCHEMA)  # type: ignore[arg-type]
        .sort("dialogue_id")
    )
    return DialogueSet(messages=messages.cast(MESSAGES_SCHEMA), dialogues=dialogues)  # type: ignore[arg-type]


def dialogues_from_run(run_dir: str | Path) -> DialogueSet:
    """The dialogues a chat run wrote to its trace."""
    return dialogues_from_events(load_events(run_dir))


def user_turns(roles: Sequence[str]) -> int:
    """How many times the user took the floor: runs of consecutive user messages."""
    turns, previous = 0, None
    for role in roles:
        if role == "user" and previous != "user":
            turns += 1
        previous = role
    return turns
