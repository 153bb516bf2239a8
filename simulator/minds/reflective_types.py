"""The reflective memory's types: its config, its entries, and the insights it is told.

`Insights` is the answer a reflection's LLM fills, each insight citing the
ids it rests on. Kept apart from the stream (`simulator.minds.reflective_memory`)
so a run's config or a brain can name them without loading the embedder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Kind = Literal["observation", "insight"]


class ReflectiveMemoryConfig(BaseModel):
    """Bounds and weights of the memory stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    capacity: int = Field(default=200, ge=1, description="entries kept, insights included")
    half_life_hours: float = Field(default=72.0, gt=0, description="recency halves this often")
    recency_weight: float = Field(default=1.0, ge=0)
    importance_weight: float = Field(default=1.0, ge=0)
    relevance_weight: float = Field(default=1.0, ge=0)
    reflection_threshold: float = Field(
        default=3.0, gt=0, description="importance stored since the last reflection"
    )
    reflection_window: int = Field(default=12, ge=1, description="recent entries to reflect on")
    top_k: int = Field(default=5, ge=1, description="entries a recall returns by default")
    max_insight_share: float = Field(
        default=0.5, ge=0, le=1, description="of capacity; past it insights are forgotten first"
    )
    insight_bonus: float = Field(
        default=0.1, ge=0, le=1, description="added to the mean importance of the evidence"
    )


InsightText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
EntryId = Annotated[int, Field(ge=0)]


class Insight(BaseModel):
    """One conclusion an LLM drew, with the ids of the entries it rests on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: InsightText
    evidence: list[EntryId] = Field(min_length=1, max_length=5)

    @field_validator("evidence")
    @classmethod
    def _unique(cls, ids: list[int]) -> list[int]:
        # Citing an entry twice says nothing more; keep the first mention.
        return list(dict.fromkeys(ids))


class Insights(BaseModel):
    """A reflection's answer; its JSON schema is what the LLM is asked to fill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    insights: list[Insight] = Field(min_length=1, max_length=3)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing in the memory stream."""

    id: int
    kind: Kind
    text: str
    t: float  # simulated seconds
    importance: float  # 0..1
    embedding: tuple[float, ...]
    evidence: tuple[int, ...] = ()  # insights only


@dataclass(frozen=True, slots=True)
class Evidence:
    """One link in an insight's evidence chain."""

    id: int
    kind: Kind
    text: str
    t: float
    depth: int  # 1: cited by the insight itself; 2: by what it cites; ...
    forgotten: bool  # consolidated away; only the text is left
