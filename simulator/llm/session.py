"""A run's language model: opened for the run (and stopped after), recorded, and counted.

Every domain's run opens its model here, so the cache location, the embedded
server's life, the manifest's record and the usage summary are one each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from simulator.llm.config import LLMConfig

CACHE_FILE = "llm-cache.sqlite"


def llm_cache_path() -> Path:
    """Where answers are cached across runs: $SIMFOLK_CACHE_DIR, else ~/.cache/simfolk."""
    root = os.environ.get("SIMFOLK_CACHE_DIR") or Path.home() / ".cache" / "simfolk"
    return Path(root) / CACHE_FILE


@contextmanager
def language_model(config: LLMConfig, run_dir: Path | None) -> Iterator[Any]:
    """An LLM for the run (starting the embedded server for "local"), stopped afterwards."""
    from simulator.llm import open_llm  # litellm loads only for runs that think in words

    cache = llm_cache_path() if config.cache else None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
    llm, server = open_llm(config, run_dir=run_dir, cache_path=cache)
    try:
        if server is None:  # the embedded model has passed its health check already
            _probe(llm, config)
        yield llm
    finally:
        llm.close()
        if server is not None:
            server.stop()


def _probe(llm: Any, config: LLMConfig) -> None:
    from simulator.llm import LLMFailure

    try:
        llm.probe()
    except LLMFailure as exc:
        where = f" at {config.api_base}" if config.api_base else ""
        raise ValueError(
            f"model {config.model!r}{where} did not answer a probe ({exc.reason}: {exc.detail}); "
            "check --model, --api-base and the key in the environment"
        ) from None


def llm_manifest(llm: Any) -> dict[str, Any]:
    """The manifest's record of a run's language model: identity, prompts, embedder."""
    from simulator.minds.embeddings import embedder_identity
    from simulator.prompts import template_hashes

    return {
        "model": llm.identity,
        "prompts": template_hashes(),
        "embedder": embedder_identity(),
    }


def llm_usage(out: Path) -> dict[str, int]:
    """Requests, cache hits and tokens of a run, from its ledger."""
    from simulator.llm import read_calls

    calls = read_calls(out)
    made = calls.filter(~pl.col("cache_hit"))
    return {
        "requests": calls.height,
        "cache_hits": calls.height - made.height,
        "http_requests": made.height,
        "failed": calls.filter(~pl.col("ok")).height,
        "prompt_tokens": int(made["prompt_tokens"].sum()),
        "completion_tokens": int(made["completion_tokens"].sum()),
    }
