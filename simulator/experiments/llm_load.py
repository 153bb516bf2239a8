"""`simfolk bench llm`: what an LLM decision costs, and whether simfolk keeps the server busy.

One embedded server serves two loads in turn:

- simfolk: `--personas` LLM personas who all arrive at once (a launch), deciding
  through the broker for `--days`; its output tokens per second of simulation;
- raw: the very requests simfolk sent (messages, schema, max_tokens, seed),
  replayed in the same order by a plain OpenAI client at the same concurrency;
  its output tokens per second.

The ratio simfolk/raw says how much of the server's throughput survives the
simulator (goal ≥ 0.9). Both are measured in one process, one after the other.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from simulator.domains.recsys.config import RunConfig
from simulator.llm.config import LLMConfig


@dataclass(frozen=True)
class LoadResult:
    """One load against the server."""

    requests: int
    completion_tokens: int
    prompt_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        """Output tokens per wall second."""
        return self.completion_tokens / self.seconds if self.seconds else float("nan")


def simfolk_load(
    config: RunConfig, out: Path
) -> tuple[LoadResult, dict[str, Any], list[dict[str, Any]]]:
    """Run `config`; what its LLM calls cost (from the ledger) and the requests it sent."""
    from simulator.domains.recsys.run import simulate
    from simulator.llm import read_calls

    sent: list[dict[str, Any]] = []

    def record(llm: Any) -> None:
        llm.on_request = sent.append

    result = simulate(config, out, on_llm=record)
    calls = read_calls(out).filter(~pl.col("cache_hit"))
    decide = calls.filter((pl.col("purpose") == "decide") & pl.col("ok"))
    failed = calls.filter(~pl.col("ok"))
    per_decision = {
        "decisions": decide.height,
        "prompt_tokens_mean": decide.select(pl.col("prompt_tokens").mean()).item(),
        "prompt_tokens_max": decide.select(pl.col("prompt_tokens").max()).item(),
        "completion_tokens_mean": decide.select(pl.col("completion_tokens").mean()).item(),
        "failed_requests": failed.height,
        "errors": dict(failed.group_by("error").len().sort("error").iter_rows()),
        "by_purpose": dict(calls.group_by("purpose").len().sort("purpose").iter_rows()),
        "events": result.events,
    }
    load = LoadResult(
        requests=calls.height,
        completion_tokens=int(calls["completion_tokens"].sum()),
        prompt_tokens=int(calls["prompt_tokens"].sum()),
        seconds=result.run_seconds,
    )
    return load, per_decision, sent


async def raw_load(api_base: str, bodies: list[dict[str, Any]], concurrency: int) -> LoadResult:
    """Fire `bodies` at the server, `concurrency` at a time, with a plain OpenAI client."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=api_base, api_key="sk-no-key", max_retries=0)
    queue = list(reversed(bodies))
    totals = {"completion": 0, "prompt": 0}

    async def worker() -> None:
        while queue:
            body = queue.pop()
            extra = (
                {"response_format": body["response_format"]} if "response_format" in body else {}
            )
            reply = await client.chat.completions.create(
                model="local",
                messages=body["messages"],
                max_tokens=body["max_tokens"],
                temperature=body["temperature"],
                seed=body["seed"],
                **extra,
            )
            if reply.usage is not None:
                totals["completion"] += reply.usage.completion_tokens
                totals["prompt"] += reply.usage.prompt_tokens

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    await client.close()
    return LoadResult(len(bodies), totals["completion"], totals["prompt"], seconds)


def bench_llm(
    *,
    dataset: str,
    personas: int,
    days: int,
    slots: int,
    window: float,
    max_tokens: int,
    seed: int,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Both loads on one embedded server; figures as a JSON-ready dict."""
    from simulator.llm.server import EmbeddedServer

    with EmbeddedServer(slots=slots).start() as server:
        config = RunConfig(
            scenario="bench-llm",
            dataset=dataset,
            personas=personas,
            days=days,
            seed=seed,
            brain="llm",
            calibrate=False,
            launch_at=0.0,
            broker_window=window,
            llm=LLMConfig(
                model=server.model,
                api_base=server.api_base,
                cache=False,
                concurrency=slots,
                max_tokens=max_tokens,
            ),
        )
        with tempfile.TemporaryDirectory(prefix="simfolk-bench-llm-") as tmp:
            out = (workdir or Path(tmp)) / "run"
            simfolk, per_decision, sent = simfolk_load(config, out)
        # The raw load replays exactly what simfolk sent, in the order it was sent.
        raw = asyncio.run(raw_load(server.api_base, sent, slots))
    return {
        "dataset": dataset,
        "personas": personas,
        "days": days,
        "slots": slots,
        "window": window,
        "max_tokens": max_tokens,
        "model": server.identity,
        "per_decision": per_decision,
        "simfolk": {**simfolk.__dict__, "tokens_per_second": simfolk.tokens_per_second},
        "raw": {**raw.__dict__, "tokens_per_second": raw.tokens_per_second},
        "ratio": simfolk.tokens_per_second / raw.tokens_per_second,
    }
