"""LLM settings for a run: which model, how to call it, and what it may spend.

Only names and numbers live here. API keys stay in the environment, where
litellm reads them, so they can never reach a manifest, a cache key or a trace.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LOCAL_MODEL = "local"


class LLMConfig(BaseModel):
    """How a run talks to its language model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default=LOCAL_MODEL,
        description="'local' (the embedded SmolLM2 server) or any litellm model string",
    )
    api_base: str | None = Field(
        default=None, description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1"
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=96, ge=1, le=4096, description="per call, completion")
    timeout_s: float = Field(default=60.0, gt=0, description="wall seconds per HTTP request")
    retries: int = Field(default=4, ge=0, le=10, description="on timeouts, 429 and 5xx")
    backoff_s: float = Field(default=0.5, ge=0, description="first retry wait; doubles")
    repairs: int = Field(default=2, ge=0, le=5, description="re-asks after an invalid answer")
    concurrency: int = Field(default=4, ge=1, le=256, description="requests in flight at once")
    budget_tokens: int | None = Field(default=None, ge=1, description="prompt + completion")
    budget_usd: float | None = Field(default=None, gt=0)
    cache: bool = Field(default=True, description="replay answers from the response cache")
    slots: int = Field(default=4, ge=1, le=64, description="embedded server: parallel slots")
    context: int = Field(default=8192, ge=512, description="embedded server: total KV tokens")
