"""What a chatbot under test must offer, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from simulator.core.statecodec import state_type
from simulator.core.text import clean_text


@state_type
@dataclass(frozen=True)
class BotReply:
    """A chatbot's answer: its words, and how many tokens they took (if it says)."""

    text: str
    tokens: int | None = None

    def __post_init__(self) -> None:
        # The bot's words are data from outside: valid Unicode from here on.
        if isinstance(self.text, str):  # anything else is the caller's error to name
            object.__setattr__(self, "text", clean_text(self.text))


class ChatbotError(Exception):
    """The chatbot under test failed to answer (transport, an empty or malformed reply).

    The dialogue ends with stop reason `target_error`; `detail` goes to the trace.
    """

    def __init__(self, target: str, detail: str) -> None:
        super().__init__(f"chatbot {target!r}: {detail}")
        self.target = target
        self.detail = detail


@runtime_checkable
class Chatbot(Protocol):
    """A chatbot under test.

    `messages` is the conversation so far from the bot's side, oldest first:
    {"role": "user" | "assistant", "content": str} (the persona speaks as
    "user"); the bot adds its own system prompt. `seed` is keyed per persona
    and turn, for targets that can sample reproducibly. Raises ChatbotError.
    """

    name: str

    async def respond(self, messages: list[dict[str, str]], *, seed: int) -> BotReply:
        """The bot's next message."""
        ...

    async def aclose(self) -> None:
        """Release connections (called once, on the run's event loop)."""
        ...
