"""Chatbot settings for a run: which bot is under test and how to reach it.

Only names and numbers live here. An API key stays in the environment and the
config names the variable that holds it, so a key never reaches a manifest,
a cache key or a trace.
"""

from __future__ import annotations

import urllib.parse

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful customer-support assistant. Answer the customer's questions "
    "briefly and politely, ask for details when you need them, and never make up facts."
)
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class ChatbotConfig(BaseModel):
    """The chatbot under test: its kind (a registry name) and what that kind needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(
        default="local",
        description="'local' (the embedded server), 'openai', 'python' or 'langgraph'",
    )
    system_prompt: str = Field(
        default=DEFAULT_SYSTEM_PROMPT, description="the bot's own instructions (model kinds)"
    )
    model: str | None = Field(
        default=None, description="openai: the model name; default: the server's first model"
    )
    base_url: str | None = Field(
        default=None,
        description=f"openai: an OpenAI-compatible endpoint; default {DEFAULT_BASE_URL}",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY", description="the NAME of the environment variable with the key"
    )
    ref: str | None = Field(
        default=None, description="python/langgraph: 'package.module:attr' of the bot"
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=128, ge=1, le=4096, description="per reply")
    timeout_s: float = Field(default=60.0, gt=0, description="wall seconds per HTTP request")
    retries: int = Field(default=2, ge=0, le=10, description="on timeouts, 429 and 5xx")
    concurrency: int = Field(
        default=4, ge=1, le=256, description="requests in flight at once (model kinds)"
    )

    def describe(self, identity: str | None = None) -> str:
        """What the manifest says the bot is: 'openai:gpt-4o-mini@https://host/v1' and the like.

        Args:
            identity: for the local kind, the embedded model's identity (the
                config does not know which weights the run loaded).

        Returns:
            The kind and what picks the bot out; never a key, and an endpoint
            without any user, password or query string it might carry.
        """
        if self.kind == "local":
            return f"local:{identity or 'embedded'}"
        if self.kind == "openai":
            endpoint = public_url(self.base_url or DEFAULT_BASE_URL)
            return f"openai:{self.model or 'default'}@{endpoint}"
        if self.ref is not None:
            return f"{self.kind}:{self.ref}"
        if self.model is not None:
            return f"{self.kind}:{self.model}"
        return self.kind


def public_url(url: str) -> str:
    """`url` without credentials, query or fragment: endpoints sometimes carry a token."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    try:
        port = parts.port
    except ValueError:  # not a number: leave it out rather than fail a description
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def is_loopback(url: str | None) -> bool:
    """Whether `url` points at this machine (127.0.0.1, localhost or ::1)."""
    host = urllib.parse.urlsplit(url or "").hostname
    return host in ("127.0.0.1", "localhost", "::1")
