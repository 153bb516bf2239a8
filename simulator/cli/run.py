"""`simfolk run` and `simfolk demo`: a scenario into its run directory, with progress."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.cli.app import app, console
from simulator.cli.options import ExposureFlag, PageShareOption

if TYPE_CHECKING:
    from simulator.chat.config import ChatConfig
    from simulator.config import RunConfig
    from simulator.run import RunResult
    from simulator.world import World


def _run_with_progress(module: Any, config: RunConfig, out: Path, resume: bool) -> RunResult:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("simulated days"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{config.scenario} · {config.target}", total=config.days)

        def on_day(world: World) -> None:
            progress.update(task, completed=world.day)

        result: RunResult = module.run(config, out, resume=resume, on_day=on_day)
    return result


def _run_chat(module: Any, config: ChatConfig, out: Path, resume: bool) -> None:
    from simulator.chat.world import ChatWorld

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

        result = module.run(config, out, resume=resume, on_step=on_step)
    per_minute = 60.0 * result.ended / result.run_seconds if result.run_seconds else float("nan")
    console.print(
        f"{result.ended}/{result.dialogues} dialogues ended ({result.status}"
        f"{', resumed' if result.resumed else ''}), {result.events} events in "
        f"{result.wall_seconds:.1f} s: {per_minute:.1f} dialogues/min\n"
        f"trace: {result.run_dir}/events   compare: simfolk compare {result.run_dir}"
    )


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="a scenario file, or a name in ./scenarios/")],
    dataset: Annotated[str | None, typer.Option(help="a dataset name or path")] = None,
    personas: Annotated[int | None, typer.Option(help="how many users become personas")] = None,
    days: Annotated[int | None, typer.Option(help="simulated days")] = None,
    seed: Annotated[int | None, typer.Option(help="root seed")] = None,
    target: Annotated[
        str | None,
        typer.Option(help="a registered target (`simfolk list targets`); chat: a chatbot kind"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="run directory [runs/<scenario>]")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the run in --out from its checkpoint")
    ] = False,
    brain: Annotated[
        str | None, typer.Option(help="a registered brain (`simfolk list brains`)")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="'local' (embedded SmolLM2) or a litellm model string")
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="an OpenAI-compatible endpoint")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="stop when spent (LLM)")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="stop when spent (LLM)")] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="replay cached LLM answers")
    ] = None,
    bot_model: Annotated[str | None, typer.Option(help="chat: the chatbot's model")] = None,
    bot_base_url: Annotated[
        str | None, typer.Option(help="chat: the chatbot's OpenAI-compatible endpoint")
    ] = None,
    bot_ref: Annotated[
        str | None, typer.Option(help="chat: 'package.module:attr' for python/langgraph bots")
    ] = None,
    exposure: ExposureFlag = None,
    page_share: PageShareOption = None,
) -> None:
    """Run a scenario and write its trace.

    For a chat scenario, --target picks the chatbot kind (local, openai, python, langgraph).
    """
    from simulator.chat.config import ChatConfig
    from simulator.config import RunConfig
    from simulator.exposure.config import with_doors
    from simulator.scenario import load_scenario

    module = load_scenario(scenario)
    base = module.CONFIG.model_dump()
    llm = {
        k: v
        for k, v in dict(
            model=model,
            api_base=api_base,
            budget_tokens=budget_tokens,
            budget_usd=budget_usd,
            cache=cache,
        ).items()
        if v is not None
    }
    if hasattr(module, "ARMS"):
        raise ValueError(f"{scenario} is an A/B scenario: run it with `simfolk ab {scenario}`")
    if isinstance(module.CONFIG, ChatConfig):
        bot = dict(kind=target, model=bot_model, base_url=bot_base_url, ref=bot_ref)
        chat = ChatConfig.model_validate(
            {
                **base,
                **{
                    k: v
                    for k, v in dict(dataset=dataset, personas=personas, seed=seed).items()
                    if v is not None
                },
                "llm": {**base["llm"], **llm},
                "chatbot": {**base["chatbot"], **{k: v for k, v in bot.items() if v is not None}},
            }
        )
        _run_chat(module, chat, out or Path("runs") / chat.scenario, resume)
        return
    overrides = {
        k: v
        for k, v in dict(
            dataset=dataset, personas=personas, days=days, seed=seed, target=target, brain=brain
        ).items()
        if v is not None
    }
    config = RunConfig.model_validate({**base, **overrides, "llm": {**base["llm"], **llm}})
    config = config.model_copy(
        update={"exposure": with_doors(config.exposure, exposure, page_share)}
    )
    out = out or Path("runs") / config.scenario
    result = _run_with_progress(module, config, out, resume)
    rate = result.events / result.wall_seconds if result.wall_seconds else float("nan")
    state = result.status if result.complete else f"paused after day {result.days_done}"
    console.print(
        f"{result.events} events ({state}{', resumed' if result.resumed else ''}) in "
        f"{result.wall_seconds:.1f} s: {rate:,.0f} events/s, peak memory {_peak_mib():,.0f} MiB\n"
        f"trace: {result.run_dir}/events   compare: simfolk compare {result.run_dir}"
    )


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="keep the run here [a temporary folder]")] = None,
    personas: Annotated[int, typer.Option(help="how many users become personas")] = 200,
) -> None:
    """A week of 200 ml-latest-small users on item-kNN, then the comparison table."""
    from analysis.run_compare import compare_run
    from simulator.cli.render import print_comparison
    from simulator.config import RunConfig

    config = RunConfig(
        scenario="demo",
        dataset="ml-latest-small",
        personas=personas,
        days=7,
        seed=0,
        target="itemknn",
    )
    with tempfile.TemporaryDirectory(prefix="simfolk-demo-") as tmp:
        run_dir = out or Path(tmp) / "run"
        console.print(
            f"[bold]simfolk demo[/]: {personas} personas built from real ml-latest-small users "
            f"(train part of each history) use an item-kNN recommender for 7 simulated days."
        )
        from simulator.run import simulate

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("simulating days", total=config.days)
            result = simulate(
                config, run_dir, on_day=lambda w: progress.update(task, completed=w.day)
            )
        console.print(f"{result.events} events in {result.wall_seconds:.1f} s → {run_dir}/events/")
        print_comparison(compare_run(run_dir), "simulated vs the same users' held-out ratings")
