"""A persona as a user in conversation: a goal, a way of writing, a pace, a patience.

A `ChatUser` is drawn for a persona from keyed streams, so the same seed gives
the same person the same goal and style in every arm of an experiment. Goals
come from a goal file (YAML or JSON); `chat_users.json` in a run directory
records every user the run drew.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from personas.atomic import write_text_atomically
from personas.io import PersonaFileError, read_data, validate_records
from personas.schema import Persona

CHAT_USERS_VERSION = 1


class Streams(Protocol):
    """Keyed random streams (the engine's `simulator.core.rng.Streams` is one)."""

    def generator(self, owner: str, purpose: str) -> np.random.Generator:
        """The stream of `owner` for `purpose`: the same key, the same draws."""
        ...


# Population medians for reading and typing; each person scatters lognormally around them.
# Silent reading of English prose: 238 words/min (Brysbaert 2019, J. Mem. Lang.).
# Typing on phones: about 36 words/min, 3 characters/s (Palin et al. 2019, MobileHCI).
READING_WPM = 238.0
TYPING_CPS = 3.0
_SPEED_LOG_SD = 0.25


# A goal's texts go into every prompt of the dialogue: a page, not a file.
GOAL_TEXT_MAX = 2_000
GoalText = Annotated[str, StringConstraints(max_length=GOAL_TEXT_MAX)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Goal(_Record):
    """What the user came for, what they can say, and what they hold back."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    want: str = Field(
        min_length=1, max_length=GOAL_TEXT_MAX, description="what they want, in their own words"
    )
    knows: tuple[GoalText, ...] = Field(default=(), description="facts they know and may say")
    unknown: tuple[GoalText, ...] = Field(
        default=(), description="what they do not know and must not make up"
    )
    private: tuple[GoalText, ...] = Field(
        default=(), description="facts they give only when the assistant asks for them"
    )
    done_when: str = Field(
        min_length=1, max_length=GOAL_TEXT_MAX, description="what counts as the goal being met"
    )
    evidence: tuple[str, ...] = Field(
        default=(),
        description="regular expressions (case-insensitive): a bot reply matching any of "
        "them meets the goal by rule, whatever the persona says",
    )

    @field_validator("evidence")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return patterns

    def met_by(self, replies: Sequence[str]) -> bool | None:
        """Whether a bot reply shows the goal met by rule; None when it has no evidence rule."""
        if not self.evidence:
            return None
        return any(re.search(p, text, re.IGNORECASE) for p in self.evidence for text in replies)


class SpeakingStyle(_Record):
    """How the user writes. Applied by code to what the model writes, not only asked for."""

    verbosity: float = Field(ge=0, le=1, description="quantile of real users' message length")
    formality: float = Field(ge=0, le=1, description="0: all lower case, no full stops")
    typo_rate: float = Field(ge=0, le=0.3, description="chance that a word gets a typo")
    emoji_rate: float = Field(ge=0, le=1, description="chance that a message ends in an emoji")

    def describe(self) -> str:
        """The style in words, for the prompt."""
        length = (
            "very short" if self.verbosity < 0.3 else ("short" if self.verbosity < 0.7 else "full")
        )
        tone = (
            "casual"
            if self.formality < 0.35
            else ("neutral" if self.formality < 0.7 else "polite and formal")
        )
        return f"{length}, {tone} messages"


class ChatUser(_Record):
    """One persona as a chat user."""

    persona_id: str
    summary: str = Field(description="who they are, in a sentence or two")
    goal: Goal
    style: SpeakingStyle
    patience: float = Field(ge=0, le=1, description="percentile of the population's patience")
    reading_wpm: float = Field(gt=0)
    typing_cps: float = Field(gt=0)


class GoalFileError(PersonaFileError):
    """A goal file that cannot be read; the message names the file, the field and why."""


def load_goals(path: str | os.PathLike[str]) -> list[Goal]:
    """Goals from YAML or JSON: a list, or `{"goals": [...]}`; ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise GoalFileError(f"{path}: no such goal file")
    data = read_data(path, what="goal file", error=GoalFileError)
    if isinstance(data, dict):
        data = data.get("goals")
    if not isinstance(data, list) or not data:
        raise GoalFileError(f"{path}: goals: expected a non-empty list of goals")
    goals = validate_records(path, "goals", data, Goal, GoalFileError)
    ids = [g.id for g in goals]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise GoalFileError(f"{path}: goals: duplicate id {duplicate!r}")
    return goals


def _percentiles(values: Sequence[float]) -> list[float]:
    # Mid-ranks in (0, 1): ties share a rank, and no one is at 0 or 1 exactly.
    array = np.asarray(values, dtype=np.float64)
    order = array.argsort(kind="stable")
    ranks = np.empty(len(array))
    ranks[order] = np.arange(len(array))
    for value in np.unique(array):
        tied = array == value
        ranks[tied] = ranks[tied].mean()
    return [float((r + 0.5) / len(array)) for r in ranks]


def draw_chat_users(
    personas: Sequence[Persona], goals: Sequence[Goal], streams: Streams
) -> list[ChatUser]:
    """A goal, a style and a pace for every persona, each from its own keyed stream.

    Patience is the persona's percentile in the population's patience trait, so
    the population's patience is uniform, as the stop model's frailty expects.
    """
    if not goals:
        raise ValueError("draw_chat_users needs at least one goal")
    patience = _percentiles([p.traits.patience for p in personas])
    users = []
    for persona, calm in zip(personas, patience, strict=True):
        rng = streams.generator(persona.id, "chat_user")
        goal = goals[int(rng.integers(len(goals)))]
        style = SpeakingStyle(
            verbosity=float(rng.uniform()),
            formality=float(rng.uniform()),
            typo_rate=float(min(rng.beta(1.0, 30.0), 0.3)),
            emoji_rate=float(rng.beta(1.0, 12.0)),
        )
        users.append(
            ChatUser(
                persona_id=persona.id,
                summary=persona.backstory or f"A user of the service ({persona.id}).",
                goal=goal,
                style=style,
                patience=calm,
                reading_wpm=READING_WPM * float(np.exp(rng.normal(0, _SPEED_LOG_SD))),
                typing_cps=TYPING_CPS * float(np.exp(rng.normal(0, _SPEED_LOG_SD))),
            )
        )
    return users


def save_chat_users(users: Sequence[ChatUser], path: Path) -> Path:
    """Write the run's chat users atomically as JSON."""
    payload = {
        "schema_version": CHAT_USERS_VERSION,
        "users": [u.model_dump(mode="json") for u in users],
    }
    return write_text_atomically(path, json.dumps(payload, indent=1, ensure_ascii=False))


def load_chat_users(path: Path) -> list[ChatUser]:
    """Read `chat_users.json`, naming the field that does not fit."""
    if not path.is_file():
        raise PersonaFileError(f"{path}: no such chat-user file")
    data: Any = read_data(path, what="chat-user file")
    if not isinstance(data, dict) or data.get("schema_version") != CHAT_USERS_VERSION:
        raise PersonaFileError(
            f"{path}: schema_version: this simfolk reads chat-user files of version "
            f"{CHAT_USERS_VERSION}"
        )
    return validate_records(path, "users", data.get("users") or [], ChatUser)
