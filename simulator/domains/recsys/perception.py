"""Perception: what a persona actually notices on a page.

Examination falls with position (a power-law position bias), stops at the
persona's attention span, and only the fields the page shows reach the brain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from personas.schema import Persona
from simulator.core.statecodec import state_type
from simulator.domains.recsys.catalog import Catalog

ItemField = Literal["title", "year", "genres"]


class PerceptionConfig(BaseModel):
    """How pages are laid out and read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page_size: int = Field(default=10, ge=1, le=100)
    position_decay: float = Field(default=0.5, ge=0, description="examine slot k w.p. (k+1)^-decay")
    min_span: int = Field(default=3, ge=1, description="slots even the least patient persona reads")
    fields: tuple[ItemField, ...] = ("title", "year", "genres")


@state_type
@dataclass(frozen=True)
class ItemView:
    """One slot of a page, with only the fields the page shows."""

    item_id: int
    position: int
    title: str | None
    year: int | None
    genres: tuple[str, ...] | None


@state_type
@dataclass(frozen=True)
class Observation:
    """A page as one persona perceived it."""

    t: float
    page: int
    items: tuple[ItemView, ...]
    examined: tuple[bool, ...]

    def examined_items(self) -> list[ItemView]:
        """The slots the persona looked at, in page order."""
        return [view for view, seen in zip(self.items, self.examined, strict=True) if seen]


class Perception:
    """Turns a slate of item ids into an Observation."""

    def __init__(self, config: PerceptionConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog

    def span(self, persona: Persona) -> int:
        """How many slots from the top the persona is willing to read."""
        size = self.config.page_size
        return max(self.config.min_span, min(size, math.ceil(size * persona.traits.patience)))

    def perceive(
        self, persona: Persona, slate: list[int], *, t: float, page: int, rng: np.random.Generator
    ) -> Observation:
        """Decide which slots are examined and build the views the page shows."""
        fields = set(self.config.fields)
        rows = self.catalog.index(slate) if slate else np.array([], dtype=np.int64)
        views = tuple(
            ItemView(
                item_id=int(item_id),
                position=position,
                title=self.catalog.titles[row] if "title" in fields else None,
                year=self.catalog.years[row] if "year" in fields else None,
                genres=self.catalog.genres[row] if "genres" in fields else None,
            )
            for position, (item_id, row) in enumerate(zip(slate, rows, strict=True))
        )
        positions = np.arange(len(slate))
        p_examine = (positions + 1.0) ** -self.config.position_decay
        # One draw per slot, always, so the stream stays aligned whatever the span is.
        draws = rng.random(len(slate))
        examined = (draws < p_examine) & (positions < self.span(persona))
        return Observation(t=t, page=page, items=views, examined=tuple(bool(x) for x in examined))
