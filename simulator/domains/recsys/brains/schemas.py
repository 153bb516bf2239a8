"""What the LLM brain lets the model answer: a schema per task, on a 1–5 scale.

A page's answer names one of the item ids shown (or none), a rating and a
review of bounded length, and whether to leave; the list and rating tasks have
their own. Ratings are asked for as 1–5 stars whatever the dataset's scale;
`to_five` and `from_five` map between the two.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from simulator.domains.recsys.actions import ActionSpace

REVIEW_CHARS = 60


def page_schema(item_ids: list[int], *, rate: bool) -> type[BaseModel]:
    """The answer a page allows: watch one of `item_ids` or none, and say a few words."""
    choices = (*(str(i) for i in item_ids), "none")
    fields: dict[str, Any] = {"watch": (Literal[choices], ...)}
    if rate:
        fields["rating"] = (Literal[1, 2, 3, 4, 5], ...)
    fields["review"] = (str, Field(max_length=REVIEW_CHARS))
    fields["leave"] = (bool, ...)
    return create_model("PageAnswer", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def list_schema(item_ids: list[int]) -> type[BaseModel]:
    """The list task's answer: the ids (of these) the persona would watch."""
    choice = Literal[tuple(str(i) for i in item_ids)]  # type: ignore[valid-type]
    return create_model(
        "ListAnswer",
        __config__=ConfigDict(extra="forbid", strict=True),
        watch=(list[choice], Field(max_length=len(item_ids))),  # type: ignore[valid-type]
    )


def ratings_schema(n: int) -> type[BaseModel]:
    """Exactly `n` ratings, 1–5, in the order the items were listed."""
    return create_model(
        "RatingsAnswer",
        __config__=ConfigDict(extra="forbid", strict=True),
        ratings=(list[Literal[1, 2, 3, 4, 5]], Field(min_length=n, max_length=n)),
    )


def to_five(value: float, space: ActionSpace) -> float:
    """A value on the dataset's scale in stars, 1–5 (unsnapped: the persona's usual rating)."""
    scale = space.rating_scale
    assert scale is not None, "implicit feedback has no stars"
    return 1.0 + 4.0 * (value - scale.low) / max(scale.high - scale.low, 1e-9)


def from_five(stars: int, space: ActionSpace) -> float:
    """A 1–5 answer on the dataset's scale (the inverse of `to_five`, snapped)."""
    scale = space.rating_scale
    assert scale is not None, "implicit feedback has no stars"
    return scale.snap(scale.low + (stars - 1) / 4.0 * (scale.high - scale.low))
