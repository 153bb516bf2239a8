"""The messages every service protocol shares: strict JSON, a run's opaque state, done, an error."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    """A protocol message: unknown fields are refused, numbers are not strings."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class State(Message):
    """The run's state on the service, opaque to the client (e.g. base64)."""

    state: str


class Ack(Message):
    """Done."""

    ok: Literal[True] = True


class ErrorAnswer(Message):
    """What went wrong, for a person to read."""

    error: str
