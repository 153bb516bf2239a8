"""A search run's settings: whose needs, which engine, how many searchers, which seed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SearchConfig(BaseModel):
    """Searchers with the needs of held-out TREC sessions, each living one session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str = "search_sessions"
    dataset: str = Field(
        default="trec-session-2013",
        description="the TREC Session Track file, its folder, or a name under SIMFOLK_DATA",
    )
    engine: str = Field(
        default="bm25", description="a registered engine (bm25, bm25-minilm) or MODULE:ATTR"
    )
    personas: int | None = Field(
        default=None,
        ge=1,
        description="searchers, one session each, cycling through the held-out sessions' "
        "needs; None: one per held-out session",
    )
    seed: int = Field(default=0, ge=0, description="the topic split and every draw")
    arrival_window_s: float = Field(
        default=3600.0, ge=0, description="sessions open uniformly within this many seconds"
    )
    checkpoint_every_s: float = Field(default=600.0, gt=0)
    part_rows: int = Field(default=100_000, ge=1)
