"""Typed actions and the action space a target offers.

A brain returns actions, never free text; each action validates against the
page the persona is looking at, so an impossible choice fails loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from personas.datasets import RatingScale
from simulator.core.statecodec import state_type


class _Action(BaseModel):
    # Strict: "10" is not an item id; an LLM's loose JSON is repaired, never coerced.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


state_type(RatingScale)  # a page's scale travels in a pending decision


@state_type
class Click(_Action):
    """Open an item shown on the page."""

    kind: Literal["click"] = "click"
    item_id: int
    position: int = Field(ge=0)


@state_type
class Rate(_Action):
    """Rate an item after consuming it."""

    kind: Literal["rate"] = "rate"
    item_id: int
    rating: float


@state_type
class Consume(_Action):
    """How many times the persona consumed an item it clicked (plays): implicit feedback."""

    kind: Literal["consume"] = "consume"
    item_id: int
    count: int = Field(ge=1)


@state_type
class Leave(_Action):
    """End the session."""

    kind: Literal["leave"] = "leave"
    reason: Literal["satisfied", "bored", "fatigued"]


Action = Annotated[Click | Rate | Consume | Leave, Field(discriminator="kind")]
Act = Click | Rate | Consume | Leave


class InvalidAction(ValueError):
    """An action that the current page does not allow."""


@state_type
@dataclass(frozen=True)
class ActionSpace:
    """What a persona may do on one page: click what is shown, rate on the scale, leave.

    Without a rating scale (implicit feedback) a click is followed by a Consume
    (how many times), never a Rate.
    """

    item_ids: tuple[int, ...]
    rating_scale: RatingScale | None

    def validate(self, action: Act) -> Act:
        """Return the action unchanged, or raise InvalidAction saying why."""
        if not isinstance(action, Click | Rate | Consume | Leave):
            raise InvalidAction(f"{action!r} is not an action (Click, Rate, Consume or Leave)")
        if isinstance(action, Click):
            if (
                action.position >= len(self.item_ids)
                or self.item_ids[action.position] != action.item_id
            ):
                raise InvalidAction(
                    f"click on item {action.item_id} at position {action.position}: "
                    f"the page shows {list(self.item_ids)}"
                )
        elif isinstance(action, Rate):
            if action.item_id not in self.item_ids:
                raise InvalidAction(f"rate of item {action.item_id}: it is not on the page")
            scale = self.rating_scale
            if scale is None:
                raise InvalidAction(
                    f"rate of item {action.item_id}: this data has no ratings (implicit "
                    "feedback); consume it instead"
                )
            if not scale.contains(action.rating):
                raise InvalidAction(
                    f"rating {action.rating} of item {action.item_id} is off the scale "
                    f"{scale.low}..{scale.high} step {scale.step}"
                )
        elif isinstance(action, Consume):
            if action.item_id not in self.item_ids:
                raise InvalidAction(f"consume of item {action.item_id}: it is not on the page")
            if self.rating_scale is not None:
                raise InvalidAction(
                    f"consume of item {action.item_id}: this data has ratings; rate it instead"
                )
        return action

    def validate_sequence(self, actions: Sequence[Act]) -> list[Act]:
        """Check every action and their order: a Rate or Consume after its Click, Leave last."""
        clicked: set[int] = set()
        for index, action in enumerate(actions):
            self.validate(action)
            if isinstance(action, Click):
                clicked.add(action.item_id)
            elif isinstance(action, Rate | Consume) and action.item_id not in clicked:
                raise InvalidAction(
                    f"{action.kind} of item {action.item_id} before any click on it"
                )
            elif isinstance(action, Leave) and index != len(actions) - 1:
                raise InvalidAction(f"leave at step {index} is followed by more actions")
        return list(actions)
