"""A search run's settings: whose needs, which engine, how many searchers, which seed."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.llm.config import LLMConfig


class SearchConfig(BaseModel):
    """Searchers with the needs of held-out TREC sessions, each living one session."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    SYSTEM_UNDER_TEST: ClassVar[str] = "engine"  # left out of the run id

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
    brain: Literal["fitted", "llm"] = Field(
        default="fitted",
        description="who words the queries: the model fitted on TREC, or the language model "
        "(`llm`); examining, clicking, dwelling and stopping stay fitted either way",
    )
    llm: LLMConfig = LLMConfig(max_tokens=48)  # {"query": "..."}: a dozen words at most
    broker_window: float = Field(
        default=0.0,
        ge=0,
        description="simulated seconds in which LLM calls are batched; above 0 a query "
        "can reach the engine after its time, so an engine that learns may hear clicks "
        "out of order",
    )
    checkpoint_every_s: float = Field(default=600.0, gt=0)
    part_rows: int = Field(default=100_000, ge=1)
