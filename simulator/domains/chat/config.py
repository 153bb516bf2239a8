"""A chat run's settings: who talks, to which chatbot, how long, with which seed."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from simulator.domains.chat.chatbots.config import ChatbotConfig
from simulator.llm.config import LLMConfig

BUNDLED = "bundled"


class ChatTiming(BaseModel):
    """How the chatbot's answers take simulated time (the persona's pace is its own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bot_base_s: float = Field(default=1.0, ge=0, description="before the first token")
    bot_s_per_token: float = Field(default=0.02, ge=0, description="streaming, per token")
    think_s: float = Field(default=2.0, ge=0, description="mean pause before typing")


class ChatConfig(BaseModel):
    """Personas with goals, each opening one conversation with the chatbot under test."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    SYSTEM_UNDER_TEST: ClassVar[str] = "chatbot"  # left out of the run id

    scenario: str = "support_chat"
    dataset: str = Field(
        default="ml-latest-small", description="whose users become the chat personas"
    )
    personas: int = Field(default=20, ge=1, description="one dialogue each")
    personas_file: str | None = Field(
        default=None,
        description="the personas to use, from a file (e.g. `simfolk personas backstories "
        "--out`), instead of building them; they must come from this dataset and taste space, "
        "and `personas` is then their count",
    )
    seed: int = Field(default=0, ge=0)
    goals: str | None = Field(
        default=None, description="a goal file (YAML/JSON); None: the scenario's goals"
    )
    stop_model: str = Field(
        default=BUNDLED,
        description="'bundled' (fitted on ConvAI2, shipped) or ConvAI2 JSON to fit it on",
    )
    max_turns: int = Field(default=12, ge=1, le=200, description="user turns before turn_limit")
    arrival_window_s: float = Field(
        default=600.0, ge=0, description="dialogues open uniformly within this many seconds"
    )
    chatbot: ChatbotConfig = ChatbotConfig()
    llm: LLMConfig = LLMConfig(max_tokens=192)  # a 200-character message in emoji is ~180 tokens
    timing: ChatTiming = ChatTiming()
    broker_window: float = Field(
        default=30.0, ge=0, description="simulated seconds in which LLM calls are batched"
    )
    checkpoint_every_s: float = Field(default=600.0, gt=0)
    part_rows: int = Field(default=100_000, ge=1)
    # The persona builder's split: the same users, built the same way as in other runs.
    holdout: float = Field(default=0.2, gt=0, lt=1)
    min_train: int = Field(default=5, ge=1)
    taste_dims: int = Field(default=16, ge=1, le=256)

    @property
    def split_label(self) -> str:
        """How train and held-out were separated, as recorded in provenance."""
        return f"temporal holdout={self.holdout} min_train={self.min_train}"
