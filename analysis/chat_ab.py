"""A/B statistics of chatbot arms: the same personas and goals, paired by persona.

Each persona holds one dialogue per arm. Per dialogue:

* ``goal_met_judged``: the goal met **by rule**, read off the bot's replies
  (a reply matches one of the goal's `evidence` patterns); undefined for goals
  without evidence. The persona's model cannot mark this itself;
* ``goal_met_llm``: the goal met as an LLM judge read the transcript against
  the goal's `done_when` (`simulator.domains.chat.judge`; present when the A/B run
  judged its arms);
* ``goal_met_said``: the persona's own model said its goal was met (the stop
  reason); reported beside the judges because a small model says so too easily;
* ``satisfaction``: the persona's last 1-5 judgement of a reply;
* ``user_turns``: how often the persona took the floor;
* ``gave_up``: it left unsatisfied (the guardrail: an arm must not raise it);
* ``minutes_to_goal``: simulated minutes from the first message to the end, in
  dialogues whose goal the rule judged met.

The statistics are `analysis.per_persona_ab`'s: means over the dialogues
where a metric is defined, a persona bootstrap shared by the arms, paired
differences Holm-adjusted against control. The result is an `ABResult`, so the
terminal table and the HTML report show it as they show any A/B run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from analysis.abresult import ABResult
from analysis.frames import load_events
from analysis.per_persona_ab import analyse_per_persona
from personas.conversation import load_chat_users
from simulator.domains.chat.judge import JUDGMENTS_FILE

# metric -> +1 when higher is better, -1 when lower is
METRICS: dict[str, int] = {
    "goal_met_judged": 1,
    "goal_met_llm": 1,
    "goal_met_said": 1,
    "satisfaction": 1,
    "user_turns": -1,
    "gave_up": -1,
    "minutes_to_goal": -1,
}
GUARDRAILS = frozenset({"gave_up"})
PRIMARY = "goal_met_judged"


def dialogue_metrics(run_dir: str | Path) -> pl.DataFrame:
    """One row per persona of a chat run: its dialogue's metrics (nan where undefined)."""
    run_dir = Path(run_dir)
    events = load_events(run_dir)
    goals = {u.persona_id: u.goal for u in load_chat_users(run_dir / "chat_users.json")}
    judged_by_llm: dict[str, float] = {}
    if (run_dir / JUDGMENTS_FILE).is_file():
        for persona, met in (
            pl.read_parquet(run_dir / JUDGMENTS_FILE).select("persona_id", "met").iter_rows()
        ):
            judged_by_llm[persona] = math.nan if met is None else float(met)
    rows = []
    for persona, goal in sorted(goals.items()):
        mine = events.filter(pl.col("persona_id") == persona).sort("seq")
        messages = mine.filter(pl.col("event") == "message")
        replies = messages.filter(pl.col("role") == "assistant")["text"].fill_null("").to_list()
        roles = messages["role"].to_list()
        turns = sum(1 for i, r in enumerate(roles) if r == "user" and (i == 0 or roles[i - 1] != r))
        end = mine.filter(pl.col("event") == "dialogue_end")
        reason = end["reason"][0] if end.height else None
        assessed = mine.filter(pl.col("event") == "assessment")["rating"].drop_nulls()
        judged = goal.met_by(replies)
        start_t = mine.filter(pl.col("event") == "dialogue_start")["t"]
        minutes = (
            (float(end["t"][0]) - float(start_t[0])) / 60.0
            if judged and end.height and start_t.len()
            else math.nan
        )
        rows.append(
            {
                "persona_id": persona,
                "goal_met_judged": math.nan if judged is None else float(judged),
                "goal_met_llm": judged_by_llm.get(persona, math.nan),
                "goal_met_said": float(reason == "goal_met"),
                "satisfaction": float(assessed[-1]) if assessed.len() else math.nan,
                "user_turns": float(turns),
                "gave_up": float(reason == "gave_up"),
                "minutes_to_goal": minutes,
            }
        )
    return pl.DataFrame(
        rows, schema={"persona_id": pl.String, **dict.fromkeys(METRICS, pl.Float64)}
    )


def analyse_chat_ab(
    arm_dirs: Mapping[str, str | Path],
    control: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ABResult:
    """Metrics per chatbot arm with bootstrap CIs, and each arm's paired difference to control.

    Raises:
        ValueError: If ``control`` is not an arm, or the arms hold other personas.
    """
    frames = {arm: dialogue_metrics(path) for arm, path in arm_dirs.items()}
    return analyse_per_persona(
        frames, control, better=METRICS, guardrails=GUARDRAILS, primary=PRIMARY,
        what="talked with", n_boot=n_boot, seed=seed, alpha=alpha,
    )  # fmt: skip
