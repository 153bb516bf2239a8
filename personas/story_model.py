"""The language model a persona's story is written with, as this package needs it.

`personas` imports nothing of the engine: whatever satisfies `StoryModel`
(the engine's `simulator.llm.LLM` does) can write and read back backstories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Answer(Protocol):
    """A model's free-text answer."""

    @property
    def text(self) -> str:
        """What it said."""
        ...

    @property
    def cache_hit(self) -> bool:
        """Whether it came from the response cache."""
        ...


class StructuredAnswer(Protocol):
    """A model's validated structured answer."""

    @property
    def value(self) -> Any:
        """The instance of the requested model."""
        ...

    @property
    def reply(self) -> Answer:
        """The answer it was read from."""
        ...


class StoryModel(Protocol):
    """The language model stories are written and read back with.

    The engine's `simulator.llm.LLM` is one. `failure` is the exception it raises
    when it gives no usable answer (a persona's check then records the failure).
    """

    @property
    def identity(self) -> str:
        """The model's name in reports and caches."""
        ...

    @property
    def failure(self) -> type[Exception]:
        """What it raises for an unusable answer."""
        ...

    async def text(
        self, messages: list[dict[str, str]], *, tag: Any, seed: int, max_tokens: int | None = None
    ) -> Answer:
        """Free text."""
        ...

    async def structured(
        self,
        messages: list[dict[str, str]],
        output: type[Any],
        *,
        tag: Any,
        seed: int,
        max_tokens: int | None = None,
    ) -> StructuredAnswer:
        """A validated instance of `output`."""
        ...


@dataclass(frozen=True)
class Tag:
    """Who asked, for the model's accounting (the fields of `simulator.llm.CallTag`)."""

    purpose: str
    persona_id: str | None = None
    t: float | None = None
