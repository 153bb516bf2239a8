"""The command line's side of the chat domain: `run` with dialogue progress, `compare`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.cli.app import console
from simulator.cli.options import COMMON, LLM_OPTIONS, llm_overrides

if TYPE_CHECKING:
    from simulator.domains.chat.config import ChatConfig

# `simfolk run` options that set the chatbot under test: option -> ChatbotConfig field.
BOT_OPTIONS = {"target": "kind", "bot_model": "model", "bot_base_url": "base_url", "bot_ref": "ref"}


def _run_chat(module: Any, config: ChatConfig, out: Path, resume: bool) -> None:
    from simulator.domains.chat.world import ChatWorld

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("dialogues ended"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(
            f"{config.scenario} · {config.chatbot.kind}", total=config.personas
        )

        def on_step(world: ChatWorld) -> None:
            progress.update(task, completed=world.counters["ended"])

        from simulator.scenario import run_scenario

        result = run_scenario(module, config, out, resume=resume, on_step=on_step)
    per_minute = 60.0 * result.ended / result.run_seconds if result.run_seconds else float("nan")
    console.print(
        f"{result.ended}/{result.dialogues} dialogues ended ({result.status}"
        f"{', resumed' if result.resumed else ''}), {result.events} events in "
        f"{result.wall_seconds:.1f} s: {per_minute:.1f} dialogues/min\n"
        f"trace: {result.run_dir}/events   compare: simfolk compare {result.run_dir}"
    )


def _default_dialogues() -> Path:
    root = os.environ.get("SIMFOLK_DATA")
    if not root or not (Path(root) / "convai2").exists():
        raise ValueError(
            "no human dialogues to compare with: pass --against PATH (ConvAI2 JSON), "
            "or set SIMFOLK_DATA to a folder holding convai2/"
        )
    return Path(root) / "convai2"


class ChatCommands:
    """Talking to a chatbot: one dialogue per persona, held against human dialogues."""

    options = COMMON | set(BOT_OPTIONS) | set(LLM_OPTIONS)

    def configure(self, config: BaseModel, options: Mapping[str, Any]) -> BaseModel:
        """The scenario's config with the run options given (--target: the chatbot kind)."""
        from simulator.domains.chat.config import ChatConfig

        base = config.model_dump()
        fields = ("dataset", "personas", "personas_file", "seed")
        update = {k: options[k] for k in fields if k in options}
        bot = {field: options[k] for k, field in BOT_OPTIONS.items() if k in options}
        return ChatConfig.model_validate(
            {
                **base,
                **update,
                "llm": llm_overrides(config, options),
                "chatbot": {**base["chatbot"], **bot},
            }
        )

    def run(self, module: ModuleType, config: Any, out: Path, resume: bool) -> None:
        """The run with a bar of dialogues ended, then dialogues per minute."""
        _run_chat(module, config, out, resume)

    def compare(
        self, run_dir: Path, against: Path | None, as_json: bool, format: str = "auto"
    ) -> None:
        """The run's dialogues against human ones (ConvAI2, ShareGPT or OpenAI messages)."""
        from analysis.dialogue_compare import compare_chat_run
        from simulator.cli.render import print_dialogue_comparison

        chats = compare_chat_run(run_dir, against or _default_dialogues(), format=format)
        if as_json:
            typer.echo(json.dumps(chats.as_dict(), indent=2))
        else:
            print_dialogue_comparison(chats, f"{run_dir}: simulated vs human dialogues")


COMMANDS = ChatCommands()
