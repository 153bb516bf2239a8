"""Offline A/B runs of chatbots: the same personas and goals talk to each arm's bot.

Every arm is an ordinary chat run of the same config with another chatbot, so
it builds the same personas, chat users and goals from the same seed, and each
persona draws the same styles, pauses and stop draws wherever its dialogue is
the same (common random numbers); with the response cache on, its opening
message is the same answer too. What differs between arms comes from the bots.
The run directory holds `ab.json` (domain "chat") and one chat run per arm
under `arms/<name>/`; arms run one after another (they share the language
model) and a killed A/B run resumes arm by arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from personas.conversation import Goal
from simulator.core.abrun import ABRun, ab_folder, arm_resumes, finish_record
from simulator.core.manifest import read_manifest
from simulator.domains.chat.chatbots import check_chatbot_name
from simulator.domains.chat.chatbots.config import ChatbotConfig
from simulator.domains.chat.config import ChatConfig
from simulator.domains.chat.judge import JUDGMENTS_FILE, judge_run
from simulator.domains.chat.run import simulate_chat


def simulate_chat_ab(
    config: ChatConfig,
    arms: Mapping[str, ChatbotConfig],
    out: str | Path,
    *,
    goals: Sequence[Goal] | None = None,
    control: str | None = None,
    resume: bool = False,
    judge: bool = True,
) -> ABRun:
    """Run every arm's chatbot with the same personas and goals into `out/arms/<name>`.

    Args:
        config: the base chat run; each arm replaces its `chatbot`.
        arms: {arm name: the arm's chatbot}; at least two.
        out: the A/B run directory.
        goals: the goals, when `config.goals` names no goal file (as a scenario passes them).
        control: the arm the others are held against (default: the first).
        resume: continue a killed run; complete arms are left as they are.
        judge: also judge every dialogue's goal with the run's language model
            (`simulator.domains.chat.judge`), beside the rule and the persona's own word.
    """
    out = Path(out)
    if len(arms) < 2:
        raise ValueError("an A/B run needs at least two arms (--arm NAME=KIND, twice or more)")
    for bot in arms.values():
        check_chatbot_name(bot.kind)
    control = control or next(iter(arms))
    if control not in arms:
        raise ValueError(f"control {control!r} is not an arm; arms: {', '.join(arms)}")
    record = {
        "kind": "ab",
        "domain": "chat",
        "control": control,
        "arms": {name: {"target": bot.kind, "dir": f"arms/{name}"} for name, bot in arms.items()},
        "crn": True,
        "config": config.model_dump(mode="json"),
        "chatbots": {name: bot.model_dump(mode="json") for name, bot in arms.items()},
        "judge": judge,
    }
    with ab_folder(out, record, resume):  # locked until every arm is done
        dirs = {name: out / "arms" / name for name in arms}
        wall: dict[str, float] = {}
        for name, bot in arms.items():
            state = arm_resumes(dirs[name]) if resume else False
            if state is None:
                continue
            arm = config.model_copy(update={"chatbot": bot})
            wall[name] = simulate_chat(arm, dirs[name], goals=goals, resume=state).run_seconds
        for name in arms:
            if judge and not (dirs[name] / JUDGMENTS_FILE).exists():
                judge_run(dirs[name], config.llm, seed=config.seed)
        complete = all(arm_resumes(d) is None for d in dirs.values()) and all(
            (d / JUDGMENTS_FILE).exists() for d in dirs.values() if judge
        )
        finish_record(out, record, complete, wall)
        events = sum(int(read_manifest(d).get("events", 0)) for d in dirs.values())
        return ABRun(
            run_dir=out,
            control=control,
            arms=dirs,
            complete=complete,
            wall_seconds=wall,
            events=events,
        )
