"""The persona's side of a conversation: what it asks its language model, and how.

The persona's instructions are the system message and nothing else goes
there. The chatbot's words reach the model only as the content of a message
("The assistant wrote: ..."), rendered as a template *variable*, so they are
data: never executed, never part of a template, never able to edit the
instructions. Answers are typed (a message; a judgement of the reply) and
checked by code: a message that repeats the instructions is refused and
re-asked, so a prompt injection cannot make the persona recite them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from personas.conversation import ChatUser
from simulator.core.protocols import Failure
from simulator.core.statecodec import state_type
from simulator.llm import LLM, CallTag, LLMFailure
from simulator.prompts import render

LEAK_NGRAM = 6  # this many words in a row from the instructions is repeating them
MAX_CHARS = 200  # ConvAI2 users write a median of 3 words; this leaves room, and ends JSON


class Opening(BaseModel):
    """The first message of a conversation."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_CHARS)


class Turn(BaseModel):
    """The persona's read of the chatbot's reply, and its next message."""

    model_config = ConfigDict(extra="forbid")

    goal_met: bool
    satisfaction: int = Field(ge=1, le=5)
    message: str = Field(min_length=1, max_length=MAX_CHARS)


@state_type
@dataclass(frozen=True)
class Said:
    """What the persona's model wrote: the message, and its judgement of the last reply."""

    message: str
    tokens: int  # completion tokens the model spent on the answer
    goal_met: bool = False
    satisfaction: int | None = None  # None for an opening message


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()").lower() for w in text.split()]


def ngrams(text: str, n: int = LEAK_NGRAM) -> set[tuple[str, ...]]:
    """Every run of `n` words in `text`, lower case, punctuation stripped."""
    words = [w for w in _words(text) if w]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def system_prompt(user: ChatUser) -> str:
    """The persona's instructions."""
    goal = user.goal
    return render(
        "chat_user_system",
        summary=user.summary,
        want=goal.want,
        knows=goal.knows,
        unknown=goal.unknown,
        private=goal.private,
        done_when=goal.done_when,
        style=user.style.describe(),
    )


def instruction_ngrams(user: ChatUser) -> frozenset[tuple[str, ...]]:
    """Word runs that belong to the instructions, not to what the persona may say."""
    goal = user.goal
    own = " \n ".join([user.summary, goal.want, goal.done_when, *goal.knows, *goal.private])
    return frozenset(ngrams(system_prompt(user)) - ngrams(own))


def repeats_instructions(message: str, forbidden: frozenset[tuple[str, ...]]) -> bool:
    """Whether `message` quotes a run of words from the instructions."""
    return bool(ngrams(message) & forbidden)


def guarded(output: type[BaseModel], forbidden: frozenset[tuple[str, ...]]) -> type[BaseModel]:
    """`output` with a check that its message does not repeat the instructions."""

    class Guarded(output):  # type: ignore[valid-type,misc]
        model_config = ConfigDict(title=output.__name__)

        @model_validator(mode="after")
        def _own_words(self) -> Any:
            if not any(ch.isalnum() for ch in self.message):
                raise ValueError("the message has no words; write what you would say")
            if repeats_instructions(self.message, forbidden):
                raise ValueError(
                    "the message repeats your instructions; write your own words as the customer"
                )
            return self

    Guarded.__name__ = Guarded.__qualname__ = output.__name__
    return Guarded


def conversation(
    user: ChatUser, history: Sequence[tuple[str, str]], ask: str
) -> list[dict[str, str]]:
    """The persona model's messages: instructions, the dialogue so far, then `ask`.

    `history` is [(role, text)] in the trace's roles: "user" is the persona (its
    own earlier words, the model's "assistant" turns), "assistant" the chatbot.
    """
    messages = [{"role": "system", "content": system_prompt(user)}]
    for role, text in history:
        if role == "user":
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": render("chat_bot_message", text=text)})
    messages.append({"role": "user", "content": ask})
    return messages


async def ask_opening(llm: LLM, user: ChatUser, *, seed: int, t: float) -> Said | Failure:
    """The first message, or why the model could not give one."""
    messages = conversation(user, [], render("chat_user_open"))
    schema = guarded(Opening, instruction_ngrams(user))
    try:
        answer = await llm.structured(
            messages, schema, tag=CallTag("chat_open", user.persona_id, t), seed=seed
        )
    except LLMFailure as failure:
        return Failure(failure.reason, failure.detail)
    value: Any = answer.value
    return Said(message=value.message, tokens=answer.reply.completion_tokens)


async def ask_turn(
    llm: LLM, user: ChatUser, history: Sequence[tuple[str, str]], *, seed: int, t: float
) -> Said | Failure:
    """The persona's judgement of the last reply and its next message."""
    messages = conversation(user, history, render("chat_user_turn"))
    schema = guarded(Turn, instruction_ngrams(user))
    try:
        answer = await llm.structured(
            messages, schema, tag=CallTag("chat_turn", user.persona_id, t), seed=seed
        )
    except LLMFailure as failure:
        return Failure(failure.reason, failure.detail)
    value: Any = answer.value
    return Said(
        message=value.message,
        tokens=answer.reply.completion_tokens,
        goal_met=value.goal_met,
        satisfaction=value.satisfaction,
    )
