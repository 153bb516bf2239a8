"""Language models for personas: one client, an embedded model, and their accounting.

litellm is slow to import and only runs that think in words need it, so the
names that pull it in are loaded on first use (PEP 562); settings and errors
are light and load at once.
"""

from __future__ import annotations

import os

# Before anything imports litellm: use its bundled price map, never fetch one.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import importlib
from typing import TYPE_CHECKING, Any

from simulator.llm.config import LOCAL_MODEL, LLMConfig
from simulator.llm.errors import (
    BudgetExhausted,
    InvalidAnswer,
    LLMFailure,
    TransportError,
)

if TYPE_CHECKING:
    from simulator.llm.answers import CallTag, Reply, Structured
    from simulator.llm.budget import Budget
    from simulator.llm.cache import CachedAnswer, ResponseCache, cache_key
    from simulator.llm.client import LLM
    from simulator.llm.ledger import CALL_SCHEMA, CallLedger, read_calls
    from simulator.llm.server import EmbeddedServer, open_llm

_LAZY = {
    "Budget": "simulator.llm.budget",
    "CachedAnswer": "simulator.llm.cache",
    "ResponseCache": "simulator.llm.cache",
    "cache_key": "simulator.llm.cache",
    "LLM": "simulator.llm.client",
    "CallTag": "simulator.llm.answers",
    "Reply": "simulator.llm.answers",
    "Structured": "simulator.llm.answers",
    "CALL_SCHEMA": "simulator.llm.ledger",
    "CallLedger": "simulator.llm.ledger",
    "read_calls": "simulator.llm.ledger",
    "EmbeddedServer": "simulator.llm.server",
    "open_llm": "simulator.llm.server",
}


def __getattr__(name: str) -> Any:
    """Load a heavy name on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CALL_SCHEMA",
    "LLM",
    "LOCAL_MODEL",
    "Budget",
    "BudgetExhausted",
    "CachedAnswer",
    "CallLedger",
    "CallTag",
    "EmbeddedServer",
    "InvalidAnswer",
    "LLMConfig",
    "LLMFailure",
    "Reply",
    "ResponseCache",
    "Structured",
    "TransportError",
    "cache_key",
    "open_llm",
    "read_calls",
]
