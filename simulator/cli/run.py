"""`simfolk run` and `simfolk demo`: a scenario into its run directory, with progress."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from simulator.cli.app import app, console, shown
from simulator.cli.options import ArchetypesOption, ExposureFlag, PageShareOption

if TYPE_CHECKING:
    pass


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="a scenario file, or a name in ./scenarios/")],
    dataset: Annotated[str | None, typer.Option(help="a dataset name or path")] = None,
    personas: Annotated[
        int | None,
        typer.Option(help="how many personas (past the dataset's users, sampled ones)"),
    ] = None,
    personas_file: Annotated[
        Path | None,
        typer.Option(
            help="use these personas (e.g. from `simfolk personas backstories --out`) instead "
            "of building them; they must come from the run's dataset and taste space"
        ),
    ] = None,
    days: Annotated[int | None, typer.Option(help="simulated days")] = None,
    seed: Annotated[int | None, typer.Option(help="root seed")] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="recommenders: a registered name (`simfolk list targets`), MODULE:ATTR (your "
            "class or factory taking (catalog, streams)), or http://HOST:PORT\\[/prefix] (your "
            "service on protocol simfolk-recommender/1; `simfolk serve recommender` is one); "
            "chat: a chatbot kind"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="run directory [runs/<scenario>]")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the run in --out from its checkpoint")
    ] = False,
    brain: Annotated[
        str | None,
        typer.Option(
            help="a registered brain (`simfolk list brains`); search: fitted, or llm (the "
            "language model words each query)"
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="recommenders: agents (one process per persona; every brain) or columnar "
            "(the population as arrays, pages by the batch; the utility brain)"
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            help="recommenders, columnar engine: this many crowds side by side, each with its "
            "own copy of the target (the events are the same as with 1)"
        ),
    ] = None,
    shard_on: Annotated[
        str | None,
        typer.Option(help="where shards run: ray (pip install 'simfolk[ray]') or process"),
    ] = None,
    population: Annotated[
        str | None,
        typer.Option(
            help="recommenders: data (dataset users; the persona sampler beyond their number) "
            "or sampled (every persona drawn by the sampler)"
        ),
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
    archetypes: ArchetypesOption = None,
    max_failed_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="exit 1 when more than this share of LLM decisions failed (llm_failure events)",
        ),
    ] = 0.05,
) -> None:
    """Run a scenario and write its trace.

    For a chat scenario, --target picks the chatbot kind (local, openai, python, langgraph).

    Options left out keep the scenario's values (its CONFIG); ones its domain lacks are refused.
    """
    from simulator.cli.domains import commands, configure
    from simulator.domains import DOMAINS
    from simulator.scenario import load_scenario

    module = load_scenario(scenario)
    if hasattr(module, "ARMS"):
        raise ValueError(f"{scenario} is an A/B scenario: run it with `simfolk ab {scenario}`")
    domain = DOMAINS.for_config(module.CONFIG)
    options = dict(
        dataset=dataset,
        personas=personas,
        personas_file=str(personas_file.resolve()) if personas_file else None,
        days=days,
        seed=seed,
        target=target,
        brain=brain,
        engine=engine,
        shards=shards,
        shard_on=shard_on,
        population=population,
        model=model,
        api_base=api_base,
        budget_tokens=budget_tokens,
        budget_usd=budget_usd,
        cache=cache,
        bot_model=bot_model,
        bot_base_url=bot_base_url,
        bot_ref=bot_ref,
        exposure=exposure,
        page_share=page_share,
        archetypes=archetypes,
    )
    config: Any = configure(domain, module.CONFIG, options, scenario=scenario)
    run_dir = out or Path("runs") / config.scenario
    commands(domain).run(module, config, run_dir, resume)
    _say_if_fewer_personas(run_dir)
    _say_target_errors(run_dir)
    _judge_llm_failures(run_dir, max_failed_share)


def _say_target_errors(run_dir: Path) -> None:
    """Say when the system under test failed: those sessions ended early (the run is whole)."""
    import polars as pl

    parts = sorted((run_dir / "events").glob("part-*.parquet"))
    if not parts:
        return
    errors = pl.scan_parquet(parts).filter(pl.col("event") == "target_error")
    reasons = errors.group_by("reason").len().sort("reason").collect()
    if reasons.height:
        counts = ", ".join(f"{r} {n}" for r, n in reasons.iter_rows())
        console.print(
            f"warning: the target failed {reasons['len'].sum()} times ({counts}); each "
            "target_error event in the trace says why, and its session ended there",
            highlight=False,
        )


def _judge_llm_failures(run_dir: Path, max_share: float) -> None:
    """Say how many LLM decisions failed; exit 1 when their share is over `max_share`.

    A decision either ends in one valid answer (a ledger row with ok) or in an
    llm_failure event; the model probe is not a decision.
    """
    import polars as pl

    from simulator.llm import read_calls

    calls = read_calls(run_dir)
    if calls.height == 0:
        return  # no model asked: nothing could fail
    answered = calls.filter(pl.col("ok") & (pl.col("purpose") != "probe")).height
    parts = sorted((run_dir / "events").glob("part-*.parquet"))
    failed = 0
    if parts:
        events = pl.scan_parquet(parts).filter(pl.col("event") == "llm_failure")
        failed = int(events.select(pl.len()).collect().item())
    share = failed / (failed + answered) if failed + answered else 0.0
    console.print(f"LLM: {answered} answers, {failed} failed decisions ({share:.1%})")
    if share > max_share:
        console.print(
            f"[red]error:[/] {share:.1%} of LLM decisions failed, more than the "
            f"{max_share:.1%} allowed; the llm_failure events in the trace say why "
            "(--max-failed-share sets the limit)",
            highlight=False,
        )
        raise typer.Exit(1)


def _say_if_fewer_personas(run_dir: Path) -> None:
    """Say so when the dataset had fewer users than personas asked for: the rest are sampled."""
    from simulator.core.manifest import read_manifest

    manifest = read_manifest(run_dir)
    asked = (manifest.get("config") or {}).get("personas")
    files = manifest.get("personas") or {}
    built, sampled = files.get("count"), (files.get("sampled") or {}).get("count")
    if isinstance(asked, int) and isinstance(built, int) and built < asked:
        dataset = (manifest.get("dataset") or {}).get("name", "the dataset")
        console.print(
            f"[yellow]note:[/] {shown(asked)} personas were asked for, but {shown(dataset)} has "
            f"{built} train users to draw from, so the run has {built}"
        )
    elif isinstance(sampled, int) and isinstance(built, int) and sampled and sampled < built:
        dataset = (manifest.get("dataset") or {}).get("name", "the dataset")
        console.print(
            f"[yellow]note:[/] {shown(dataset)} has {built - sampled} train users; the other "
            f"{sampled} personas are drawn by the persona sampler ({files['sampled']['file']})"
        )


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="keep the run here [a temporary folder]")] = None,
    personas: Annotated[int, typer.Option(help="how many users become personas")] = 200,
) -> None:
    """A week of 200 ml-latest-small users on item-kNN, then the comparison table."""
    from analysis.run_compare import compare_run
    from simulator.cli.render import print_comparison
    from simulator.domains.recsys.config import RunConfig

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
        from simulator.domains.recsys.run import simulate

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
