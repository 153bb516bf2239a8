"""`simfolk bench llm`: what an LLM decision costs, and whether simfolk keeps the server busy.

One embedded server serves two loads in turn:

- simfolk: `--personas` LLM personas who all arrive at once (a launch), deciding
  through the broker for `--days`; its output tokens per second of simulation;
- raw: the same number of decide-shaped requests (same prompt template, schema
  and max_tokens, pages drawn from the catalogue) fired by a plain concurrent
  client at the same concurrency; its output tokens per second.

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

import numpy as np
import polars as pl

from simulator.config import RunConfig
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


def simfolk_load(config: RunConfig, out: Path) -> tuple[LoadResult, dict[str, Any]]:
    """Run `config` and read what its LLM calls cost from the ledger."""
    from simulator.llm import read_calls
    from simulator.run import simulate

    result = simulate(config, out)
    calls = read_calls(out).filter(~pl.col("cache_hit"))
    decide = calls.filter((pl.col("purpose") == "decide") & pl.col("ok"))
    per_decision = {
        "decisions": decide.height,
        "prompt_tokens_mean": decide.select(pl.col("prompt_tokens").mean()).item(),
        "prompt_tokens_max": decide.select(pl.col("prompt_tokens").max()).item(),
        "completion_tokens_mean": decide.select(pl.col("completion_tokens").mean()).item(),
        "failed_requests": calls.filter(~pl.col("ok")).height,
        "by_purpose": dict(calls.group_by("purpose").len().sort("purpose").iter_rows()),
        "events": result.events,
    }
    load = LoadResult(
        requests=calls.height,
        completion_tokens=int(calls["completion_tokens"].sum()),
        prompt_tokens=int(calls["prompt_tokens"].sum()),
        seconds=result.run_seconds,
    )
    return load, per_decision


def decide_requests(config: RunConfig, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` request bodies shaped like the LLM brain's: same template, schema and limits."""
    from personas.builder import build_personas
    from simulator.actions import ActionSpace
    from simulator.brains.llm import LLMBrain, Thought, page_schema
    from simulator.interfaces import DecisionRequest, SessionState
    from simulator.llm.client import response_format_for
    from simulator.perception import Perception
    from simulator.rng import Streams
    from simulator.run import prepare, sample_users

    prep = prepare(config)
    streams = Streams(seed)
    users = sample_users(prep.split, config.personas, streams)
    personas = build_personas(
        prep.dataset, prep.split.train, users, space=prep.space, split_label=config.split_label
    )
    brain = LLMBrain(prep.catalog, config.utility, llm=None)  # type: ignore[arg-type]
    perception = Perception(config.perception, prep.catalog)
    rng = streams.generator("bench", "pages")
    item_ids = np.array(prep.catalog.item_ids)
    bodies = []
    for i in range(n):
        persona = personas[i % len(personas)]
        slate = [int(x) for x in rng.choice(item_ids, config.perception.page_size, replace=False)]
        observation = perception.perceive(persona, slate, t=0.0, page=i % 3, rng=rng)
        space = ActionSpace(item_ids=tuple(slate), rating_scale=prep.dataset.rating_scale)
        request = DecisionRequest(
            persona_id=persona.id,
            t=0.0,
            observation=observation,
            session=SessionState(session=0, page=i % 3, clicks=0),
            space=space,
            seed=int(rng.integers(2**31 - 1)),
            priors={},
            expected={},
            fallback=[],
        )
        state: Thought = {"request": request, "persona": persona, "memories": []}
        state["items"] = asyncio.run(brain.perceive(state))["items"]
        examined = [v.item_id for v in observation.examined_items()]
        bodies.append(
            {
                "messages": brain.messages(state),
                "max_tokens": config.llm.max_tokens,
                "temperature": config.llm.temperature,
                "seed": request.seed,
                "response_format": response_format_for(page_schema(examined, rate=True)),
            }
        )
    return bodies


async def raw_load(api_base: str, bodies: list[dict[str, Any]], concurrency: int) -> LoadResult:
    """Fire `bodies` at the server, `concurrency` at a time, with a plain OpenAI client."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=api_base, api_key="sk-no-key", max_retries=0)
    queue = list(reversed(bodies))
    totals = {"completion": 0, "prompt": 0}

    async def worker() -> None:
        while queue:
            body = queue.pop()
            reply = await client.chat.completions.create(model="local", **body)
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
            simfolk, per_decision = simfolk_load(config, out)
        bodies = decide_requests(config, simfolk.requests, seed)
        raw = asyncio.run(raw_load(server.api_base, bodies, slots))
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
