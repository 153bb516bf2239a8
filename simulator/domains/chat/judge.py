"""An LLM judge of whether a dialogue met its goal, apart from the persona's own word.

The persona's model says "goal met" too easily (a small model says it to a bot
that only asks for more). Two judges stand apart from it: the goal's
`evidence` rule (`personas.conversation.Goal.met_by`), and this one, which reads
the whole transcript against the goal's `done_when` through the same LLM layer
as everything else (cached, budgeted, on its own ledger under `judge/`). The
transcript is a template variable, so the bot's words are data to the judge,
never instructions. A call that fails is a recorded failure, never a verdict.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from analysis.frames import load_events
from personas.atomic import replace_atomically, temporary_path
from personas.conversation import Goal, load_chat_users
from simulator.core.rng import Streams
from simulator.llm import CallTag, LLMFailure
from simulator.llm.config import LLMConfig
from simulator.prompts import render

JUDGMENTS_FILE = "judgments.parquet"
JUDGE_DIR = "judge"  # the judge's own ledger, beside the run's
JUDGE_MAX_TOKENS = 128  # a verdict and one sentence; the small model runs long without a cap
JUDGMENTS_SCHEMA = {
    "persona_id": pl.String,
    "met": pl.Boolean,  # null: the judge gave no usable answer
    "reason": pl.String,
    "failure": pl.String,
}


class GoalVerdict(BaseModel):
    """The judge's answer."""

    model_config = ConfigDict(extra="forbid")

    met: bool
    reason: str = Field(min_length=1, max_length=200)


def judge_messages(goal: Goal, transcript: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The judge's prompt: instructions as the system message, the dialogue as data."""
    user = render(
        "judge_goal_user", want=goal.want, done_when=goal.done_when, transcript=transcript
    )
    return [
        {"role": "system", "content": render("judge_goal_system")},
        {"role": "user", "content": user},
    ]


async def judge_dialogue(
    llm: Any, goal: Goal, transcript: list[tuple[str, str]], *, seed: int, persona_id: str
) -> dict[str, Any]:
    """One judgement row: met and why, or the failure."""
    if not any(role == "assistant" for role, _ in transcript):
        # Nothing the assistant said: no goal can have been met, and no call is needed.
        return {"persona_id": persona_id, "met": False, "reason": "no reply", "failure": None}
    try:
        answer = await llm.structured(
            judge_messages(goal, transcript),
            GoalVerdict,
            tag=CallTag("judge", persona_id),
            seed=seed,
            max_tokens=JUDGE_MAX_TOKENS,
        )
    except LLMFailure as failure:
        return {"persona_id": persona_id, "met": None, "reason": None, "failure": failure.reason}
    verdict: Any = answer.value
    return {"persona_id": persona_id, "met": verdict.met, "reason": verdict.reason, "failure": None}


def transcripts(run_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Each persona's dialogue in a chat run, as (role, text) in order."""
    messages = load_events(run_dir).filter(pl.col("event") == "message").sort("seq")
    out: dict[str, list[tuple[str, str]]] = {}
    for persona, role, text in messages.select("persona_id", "role", "text").iter_rows():
        out.setdefault(persona, []).append((role, text or ""))
    return out


async def _gather(jobs: list[Any]) -> list[dict[str, Any]]:
    # Gathered inside the loop that runs them (outside, gather would bind another loop).
    return list(await asyncio.gather(*jobs))


def judge_run(run_dir: str | Path, llm_config: LLMConfig, *, seed: int) -> Path:
    """Judge every dialogue of a finished chat run; write `judgments.parquet` beside it."""
    from simulator.llm.session import language_model

    run_dir = Path(run_dir)
    goals = {u.persona_id: u.goal for u in load_chat_users(run_dir / "chat_users.json")}
    said = transcripts(run_dir)
    streams = Streams(seed)
    (run_dir / JUDGE_DIR).mkdir(exist_ok=True)
    with language_model(llm_config, run_dir / JUDGE_DIR) as llm:
        jobs = [
            judge_dialogue(
                llm,
                goal,
                said.get(persona, []),
                seed=streams.integer_seed(persona, "judge"),
                persona_id=persona,
            )
            for persona, goal in sorted(goals.items())
        ]
        loop = asyncio.new_event_loop()
        try:
            rows = loop.run_until_complete(_gather(jobs))
            loop.run_until_complete(llm.aclose())
        finally:
            loop.close()
    path = run_dir / JUDGMENTS_FILE
    pl.DataFrame(rows, schema=JUDGMENTS_SCHEMA).write_parquet(temporary_path(path))
    replace_atomically(temporary_path(path), path)
    return path
