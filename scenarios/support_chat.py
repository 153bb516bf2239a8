"""People with a problem write to a movie streaming service's support chatbot.

Each persona (a real ml-latest-small user) brings one goal from
support_goals.yaml, its own way of writing and its own patience, and talks
until the goal is met, it gives up, or its patience runs out (the stop model,
fitted on ConvAI2 human-bot chats).

Run it:  python scenarios/support_chat.py            (defaults below)
    or:  simfolk run scenarios/support_chat.py --personas 100
Then:    simfolk compare runs/support_chat --against $SIMFOLK_DATA/convai2
         simfolk export dialogues runs/support_chat --format openai --out chats.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personas.conversation import load_goals
from simulator.domains.chat.chatbots.config import ChatbotConfig
from simulator.domains.chat.config import ChatConfig
from simulator.domains.chat.run import ChatRunResult, simulate_chat

GOALS = Path(__file__).with_name("support_goals.yaml")

CONFIG = ChatConfig(
    scenario="support_chat",
    dataset="ml-latest-small",
    personas=20,
    seed=0,
    chatbot=ChatbotConfig(
        kind="local",
        system_prompt=(
            "You are the support assistant of a movie streaming service. Help the customer "
            "with their account, billing, playback and catalogue questions. Be brief and concrete."
        ),
    ),
)


def run(config: ChatConfig, out: str | Path, **options: Any) -> ChatRunResult:
    """Every persona opens one conversation with `config.chatbot`."""
    options.setdefault("goals", load_goals(GOALS))
    return simulate_chat(config, out, **options)


def main() -> None:
    """Run with the defaults into runs/support_chat and print where the trace went."""
    result = run(CONFIG, Path("runs") / "support_chat")
    print(f"{result.dialogues} dialogues, {result.events} events in {result.run_dir}")
    print(f"compare with: simfolk compare {result.run_dir} --against $SIMFOLK_DATA/convai2")


if __name__ == "__main__":
    main()
