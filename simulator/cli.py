"""The `simfolk` command: demo, run, compare."""

from __future__ import annotations

import json
import math
import resource
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analysis.run_compare import RunComparison, compare_run
from personas.cli import app as personas_app
from simulator.bench import app as bench_app
from simulator.brains import brain_names
from simulator.config import RunConfig
from simulator.llm.cli import llm_app
from simulator.run import RunResult
from simulator.scenario import load_scenario
from simulator.targets import target_names
from simulator.world import World

app = typer.Typer(
    help="simfolk: persona agents using your system, traced and held against real people.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")
app.add_typer(llm_app, name="llm")
app.add_typer(personas_app, name="personas")
console = Console()


_SHORT = {"wasserstein": "W1", "ks": "KS", "jensen_shannon": "JS", "abs_diff": "|Δ|"}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_comparison(comparison: RunComparison, title: str) -> None:
    """The comparison table, then the simulation-only figures."""
    table = Table(title=title)
    for column in ("metric", "by", "distance", "floor", "ratio", "sim", "real"):
        left = column in ("metric", "by")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in comparison.rows:
        ratio = _fmt(row.ratio)
        style = "green" if math.isfinite(row.ratio) and row.ratio <= 1.5 else None
        table.add_row(
            row.metric,
            _SHORT.get(row.distance_name, row.distance_name),
            _fmt(row.distance),
            _fmt(row.floor),
            f"[{style}]{ratio}[/]" if style else ratio,
            _fmt(row.simulated),
            _fmt(row.real),
        )
    console.print(table)
    sim = comparison.simulated
    console.print(
        f"simulation only: {sim['sessions']} sessions, CTR {_fmt(sim['ctr'])}, "
        f"examined {_fmt(sim['examined_share'])} of impressions, "
        f"{_fmt(sim['pages_per_session'])} pages per session; CTR by position: "
        + " ".join(f"{p['position']}:{p['ctr']:.2f}" for p in sim["ctr_by_position"])
    )
    console.print(
        "floor: distance between two random halves of the real users; distance: sim half "
        "vs the other real half (same sample sizes); ratio ≤ 1.5 is green. sim/real: means "
        "(genre_share: entropy in bits)."
    )


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


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="a scenario file, or a name in ./scenarios/")],
    dataset: Annotated[str | None, typer.Option(help="a dataset name or path")] = None,
    personas: Annotated[int | None, typer.Option(help="how many users become personas")] = None,
    days: Annotated[int | None, typer.Option(help="simulated days")] = None,
    seed: Annotated[int | None, typer.Option(help="root seed")] = None,
    target: Annotated[str | None, typer.Option(help=f"one of {', '.join(target_names())}")] = None,
    out: Annotated[Path | None, typer.Option(help="run directory [runs/<scenario>]")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the run in --out from its checkpoint")
    ] = False,
    brain: Annotated[str | None, typer.Option(help=f"one of {', '.join(brain_names())}")] = None,
    model: Annotated[
        str | None, typer.Option(help="'local' (embedded SmolLM2) or a litellm model string")
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="an OpenAI-compatible endpoint")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="stop when spent (LLM)")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="stop when spent (LLM)")] = None,
    cache: Annotated[
        bool | None, typer.Option("--cache/--no-cache", help="replay cached LLM answers")
    ] = None,
) -> None:
    """Run a scenario and write its trace."""
    module = load_scenario(scenario)
    base = module.CONFIG.model_dump()
    overrides = {
        k: v
        for k, v in dict(
            dataset=dataset, personas=personas, days=days, seed=seed, target=target, brain=brain
        ).items()
        if v is not None
    }
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
    config = RunConfig.model_validate({**base, **overrides, "llm": {**base["llm"], **llm}})
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
def compare(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Hold a run against the held-out real data of the same users."""
    comparison = compare_run(run_dir)
    if as_json:
        typer.echo(json.dumps(comparison.as_dict(), indent=2))
    else:
        print_comparison(comparison, f"{run_dir}: simulated vs held-out real users")


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="keep the run here [a temporary folder]")] = None,
    personas: Annotated[int, typer.Option(help="how many users become personas")] = 200,
) -> None:
    """A week of 200 ml-latest-small users on item-kNN, then the comparison table."""
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


def main() -> None:
    """Entry point: bad input ends with its message and exit status 2, not a traceback."""
    try:
        app()
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
