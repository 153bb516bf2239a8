"""What is asked of a model and what comes back: tags, replies, validation, repairs.

A free-text answer must not be empty; a structured one must parse as its
pydantic model (a markdown fence around the JSON is forgiven). An answer that
fails raises `Invalid` with a reason code, and `repair_message` words the turn
that asks for a corrected one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(?P<body>.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class CallTag:
    """Who asked, for accounting; never part of the cache key."""

    purpose: str  # "decide", "reflect", "review", "backstory", ...
    persona_id: str | None = None
    t: float | None = None  # simulated seconds


@dataclass(frozen=True)
class Reply:
    """The model's answer to one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cache_hit: bool
    finish_reason: str | None


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A validated answer, the reply it came from and the repairs it took."""

    value: T
    reply: Reply
    repairs: int


class Invalid(Exception):
    """An answer that came back but cannot be used (internal; drives repairs)."""

    def __init__(self, reason: str, detail: str, reply: Reply | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.reply = reply


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON schema with additionalProperties false on every object."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: walk(value) for key, value in node.items()}
        is_object = out.get("type") == "object" or "properties" in out
        if is_object and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    result: dict[str, Any] = walk(schema)
    return result


@lru_cache(maxsize=256)
def response_format_for(output: type[BaseModel]) -> dict[str, Any]:
    """The json_schema response_format that asks for `output`."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", output.__name__)[:64] or "answer"
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": strict_schema(output.model_json_schema()),
            "strict": True,
        },
    }


def check_text(reply: Reply) -> str:
    """A free-text answer's text; raises Invalid when it is empty."""
    if not reply.text.strip():
        raise Invalid("empty", "the answer was empty")
    return reply.text


def validator(output: type[T]) -> Callable[[Reply], T]:
    """A check that reads a reply as `output`; raises Invalid, with the reason, if it cannot."""

    def check(reply: Reply) -> T:
        text = reply.text.strip()
        if not text:
            raise Invalid("empty", "the answer was empty")
        fenced = _FENCE.match(text)  # some models wrap JSON in a markdown fence
        if fenced is not None:
            text = fenced["body"]
        try:
            return output.model_validate_json(text)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if any(error["type"] == "json_invalid" for error in errors):
                if reply.finish_reason == "length":
                    raise Invalid(
                        "truncated", "the answer was cut off before the JSON ended"
                    ) from None
                raise Invalid("invalid_json", f"not valid JSON ({errors[0]['msg']})") from None
            described = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                for error in errors[:3]
            )
            raise Invalid("schema", described[:300]) from None

    return check


def repair_message(problem: Invalid, structured: bool) -> str:
    """The user turn that asks for a corrected answer."""
    if not structured:
        return "Your answer was empty. Please answer."
    if problem.reason == "truncated":
        return "Your answer was cut off. Reply again with a shorter JSON object, and nothing else."
    if problem.reason == "empty":
        return "Your answer was empty. Reply with the JSON object only."
    return f"That answer was invalid ({problem.detail}). Reply with a corrected JSON object only."
