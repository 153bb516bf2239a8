"""Run a chat simulation end to end: personas -> chat users -> dialogues -> trace.

A chat run directory holds `manifest.json` (kind "chat"), `personas.json`,
`chat_users.json`, `stop_model.json`, `events/part-*.parquet`,
`llm_calls/part-*.parquet`, `timeseries.parquet` and, while it can still be
continued, `checkpoint.msgpack`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from analysis.frames import RunFrames
from personas.atomic import write_text_atomically
from personas.conversation import (
    Goal,
    draw_chat_users,
    load_chat_users,
    load_goals,
    save_chat_users,
)
from simulator.core.loops import in_thread, outside_running_loop
from simulator.core.manifest import (
    MANIFEST_VERSION,
    environment,
    file_sha256,
    git_revision,
    package_versions,
)
from simulator.core.rng import Streams
from simulator.core.rundir import (
    PERSONAS_FILE,
    claim,
    drive,
    finish,
    read_run_file,
    record,
    restore,
    run_id,
)
from simulator.domains.chat.chatbots import ChatbotContext, check_chatbot_name, make_chatbot
from simulator.domains.chat.config import BUNDLED, ChatConfig
from simulator.domains.chat.interfaces import Chatbot
from simulator.domains.chat.stop import StopModel, fit_stop_model_from
from simulator.domains.chat.world import ChatWorld
from simulator.llm.session import language_model, llm_manifest, llm_usage
from simulator.population import (
    fit_population,
    run_personas,
    start_personas,
    with_personas_file,
)
from simulator.trace import SCHEMA_VERSION, TraceWriter

CHAT_USERS_FILE = "chat_users.json"
STOP_MODEL_FILE = "stop_model.json"


@dataclass(frozen=True)
class ChatRunResult(RunFrames):
    """What a finished (or paused) chat run produced."""

    run_dir: Path
    events: int
    dialogues: int  # started
    ended: int
    complete: bool
    resumed: bool
    status: str  # complete, paused, or why it stopped early (budget_exhausted)
    wall_seconds: float
    run_seconds: float  # the conversations themselves, without data loading


def bundled_stop_model() -> StopModel:
    """The stop model shipped with simfolk (fitted on ConvAI2; see its `source`)."""
    text = (resources.files("simulator.domains.chat") / STOP_MODEL_FILE).read_text(encoding="utf-8")
    return StopModel.model_validate_json(text)


def resolve_data_path(path: str) -> Path:
    """A path as given, else under $SIMFOLK_DATA (where the Makefile points at the data)."""
    candidate = Path(path)
    if candidate.exists() or candidate.is_absolute():
        return candidate
    root = os.environ.get("SIMFOLK_DATA")
    if not root:
        raise FileNotFoundError(
            f"{path}: not found; give a full path or set SIMFOLK_DATA to the data folder"
        )
    return Path(root) / path


def _stop_model(config: ChatConfig, out: Path, resume: bool) -> StopModel:
    path = out / STOP_MODEL_FILE
    if resume and path.exists():
        return read_run_file(path, StopModel, "stop model")
    if config.stop_model == BUNDLED:
        model = bundled_stop_model()
    else:
        model = fit_stop_model_from(resolve_data_path(config.stop_model))
    write_text_atomically(path, model.model_dump_json(indent=2))
    return model


def _goals(config: ChatConfig, goals: Sequence[Goal] | None) -> list[Goal]:
    if config.goals is not None:
        return load_goals(resolve_data_path(config.goals))
    if not goals:
        raise ValueError("a chat run needs goals: set `goals` in the config (a goal file)")
    return list(goals)


def _manifest(
    config: ChatConfig, out: Path, prep: Any, llm: Any, chatbot: str, stop: StopModel, count: int
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": "chat",
        "trace_schema_version": SCHEMA_VERSION,
        "config": config.model_dump(mode="json"),
        "root_seed": config.seed,
        "dataset": {
            "name": prep.dataset.name,
            "path": str(prep.dataset.path),
            "sha256": prep.dataset.sha256,
        },
        "personas": {
            "file": PERSONAS_FILE,
            "count": count,
            "sha256": file_sha256(out / PERSONAS_FILE),
        },
        "chat_users": {"file": CHAT_USERS_FILE, "sha256": file_sha256(out / CHAT_USERS_FILE)},
        "stop_model": {"file": STOP_MODEL_FILE, "source": stop.source},
        "models": {"user": llm.identity, "chatbot": chatbot},
        "llm": llm_manifest(llm),
        "versions": package_versions(),
        "environment": environment(),
        "git_revision": git_revision(),
        "status": "running",
    }


async def asimulate_chat(config: ChatConfig, out: str | Path, **options: Any) -> ChatRunResult:
    """`simulate_chat`, to await: the run goes to a worker thread, the caller's loop stays free.

    Callbacks (`on_step`, `on_day`, `on_llm`) are called from that thread.
    """
    return await in_thread(simulate_chat, config, out, **options)


@outside_running_loop
def simulate_chat(
    config: ChatConfig,
    out: str | Path,
    *,
    goals: Sequence[Goal] | None = None,
    chatbot: Chatbot | None = None,
    resume: bool = False,
    until: float | None = None,
    on_step: Callable[[ChatWorld], None] | None = None,
    on_llm: Callable[[Any], None] | None = None,
) -> ChatRunResult:
    """Run (or resume) `config` into `out`; stop after `until` simulated seconds if given.

    `chatbot`, if given, is the system under test as an object (a test's
    scripted bot, an in-process app); otherwise `config.chatbot` builds it.
    """
    started = time.perf_counter()
    out = Path(out)
    config = with_personas_file(config)
    if chatbot is None:
        check_chatbot_name(config.chatbot.kind)
    with claim(out, config, resume) as resume:  # from here on: whether it continues
        streams = Streams(config.seed)
        prep = fit_population(config)
        if resume:
            personas = run_personas(out)
            users = load_chat_users(out / CHAT_USERS_FILE)
        else:
            personas = start_personas(config, prep, streams, out)
            users = draw_chat_users(personas, _goals(config, goals), streams)
            save_chat_users(users, out / CHAT_USERS_FILE)
        stop = _stop_model(config, out, resume)
        with language_model(config.llm, out) as llm:
            if on_llm is not None:
                on_llm(llm)
            bot = chatbot or make_chatbot(
                config.chatbot,
                ChatbotContext(
                    local_api_base=llm.api_base,
                    local_model=llm.model,
                    local_identity=llm.identity,
                    cache=llm.cache,
                ),
            )
            described = (
                config.chatbot.describe(llm.identity) if chatbot is None else f"object:{bot.name}"
            )
            world = ChatWorld(
                config=config,
                users=users,
                chatbot=bot,
                llm=llm,
                stop_model=stop,
                trace=TraceWriter(out, config.part_rows, run_id(config)),
                streams=streams,
            )
            state = restore(world, out, resume)
            manifest = _manifest(config, out, prep, llm, described, stop, len(personas))
            manifest = record(out, manifest, resume, {"from_t": world.clock})
            running = time.perf_counter()
            drive(
                world,
                out,
                lambda checkpoint: world.run(until, on_step=on_step, checkpoint=checkpoint),
                closers=[lambda: _close(bot, llm)],
                ledger=llm.ledger,
            )
            run_seconds = time.perf_counter() - running
        complete = world.finished
        manifest = finish(
            world,
            out,
            manifest,
            complete=complete,
            usage=llm_usage(out),
            dialogues=world.counters["dialogues"],
            dialogues_ended=world.counters["ended"],
        )
        return ChatRunResult(
            run_dir=out,
            events=world.trace.next_seq,
            dialogues=world.counters["dialogues"],
            ended=world.counters["ended"],
            complete=complete,
            resumed=state is not None,
            status=manifest["status"],
            wall_seconds=time.perf_counter() - started,
            run_seconds=run_seconds,
        )


async def _close(bot: Chatbot, llm: Any) -> None:
    await bot.aclose()
    await llm.aclose()
