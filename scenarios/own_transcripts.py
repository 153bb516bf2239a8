"""Your own transcripts: simulated customers held against the people who wrote to your assistant.

A team's assistant logs are rarely ConvAI2: they are exported as OpenAI
messages (one JSON object a line) or ShareGPT. Here the scenario writes real
human–bot chats out the way a team's export looks (`write_as_your_transcripts`:
ConvAI2's chats as OpenAI-messages JSON Lines, with the system prompt and
metadata an export carries), runs the support chat, and compares the two —
the same way it would compare with yours:

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "hi, my card was charged twice"},
                  {"role": "assistant", "content": "..."}], "metadata": {...}}

The person is the `user` (or ShareGPT's `human`) side; system and tool
messages are no one's turn. The metrics, floor and ratio are those of
`compare --against $SIMFOLK_DATA/convai2`.

Run it:  python scenarios/own_transcripts.py
    or:  simfolk run scenarios/own_transcripts.py --personas 20 --out runs/own_transcripts
Then:    simfolk compare runs/own_transcripts --against our_chats.jsonl [--format openai]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from analysis.dialogue_compare import DialogueComparison, compare_chat_run
from analysis.dialogues import load_convai2
from personas.atomic import write_text_atomically
from simulator.domains.chat.config import ChatConfig
from simulator.domains.chat.run import ChatRunResult
from simulator.scenario import load_scenario

# The support chat itself, unchanged: only the human side it is held against is yours.
SUPPORT = load_scenario(str(Path(__file__).with_name("support_chat.py")))
CONFIG: ChatConfig = SUPPORT.CONFIG.model_copy(update={"scenario": "own_transcripts"})


def write_as_your_transcripts(convai2: Path, out: Path) -> Path:
    """ConvAI2's human–bot chats (`convai2`: a file or folder) as an assistant's export.

    Every non-empty dialogue becomes one OpenAI-messages record: the system
    prompt first, then the person as `user` and the bot as `assistant`.
    """
    real = load_convai2(convai2)
    lines = []
    for dialogue_id, turns in real.conversations().items():
        if not turns:
            continue
        messages = [{"role": "system", "content": CONFIG.chatbot.system_prompt}]
        messages += [{"role": role, "content": text} for role, text in turns]
        record = {"messages": messages, "metadata": {"source": "convai2", "id": dialogue_id}}
        lines.append(json.dumps(record, ensure_ascii=False))
    write_text_atomically(out, "".join(line + "\n" for line in lines))
    return out


def run(config: ChatConfig, out: str | Path, **options: Any) -> ChatRunResult:
    """Every persona opens one conversation with `config.chatbot` (as in support_chat)."""
    result: ChatRunResult = SUPPORT.run(config, out, **options)
    return result


def compare_with(run_dir: str | Path, transcripts: str | Path) -> DialogueComparison:
    """The run's dialogues against your transcripts, their format told from the content."""
    return compare_chat_run(run_dir, transcripts)


def main() -> None:
    """Write the example export, run into runs/own_transcripts, compare and print the ratios."""
    data = os.environ.get("SIMFOLK_DATA")
    if not data:
        raise SystemExit("set SIMFOLK_DATA to the folder that holds convai2/")
    people = write_as_your_transcripts(
        Path(data) / "convai2" / "data_intermediate.json",
        Path("runs") / "own_transcripts-people.jsonl",
    )
    result = run(CONFIG, Path("runs") / "own_transcripts")
    print(f"{result.dialogues} dialogues, {result.events} events in {result.run_dir}")
    for row in compare_with(result.run_dir, people).as_dict()["rows"]:
        print(f"{row['metric']:>24}  ratio {row['ratio']}")


if __name__ == "__main__":
    main()
