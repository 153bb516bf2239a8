"""The `simfolk` command: demo, run, compare."""

from __future__ import annotations

import json
import math
import os
import resource
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analysis.compare import ComparisonRow
from analysis.dialogue_compare import DialogueComparison, compare_chat_run
from analysis.run_compare import RunComparison, compare_run
from personas.cli import app as personas_app
from simulator.bench import ExposureFlag, PageShareOption
from simulator.bench import app as bench_app
from simulator.brains import brain_names
from simulator.chat.config import ChatConfig
from simulator.config import RunConfig
from simulator.core.manifest import read_manifest
from simulator.exposure.config import with_doors
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


def print_rows(rows: Sequence[ComparisonRow], title: str) -> None:
    """A comparison table: metric, distance, floor, ratio, and each side's summary."""
    table = Table(title=title)
    for column in ("metric", "by", "distance", "floor", "ratio", "sim", "real"):
        left = column in ("metric", "by")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
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


def print_comparison(comparison: RunComparison, title: str) -> None:
    """The comparison table, then the simulation-only figures."""
    print_rows(comparison.rows, title)
    sim = comparison.simulated
    console.print(
        f"simulation only: {sim['sessions']} sessions, CTR {_fmt(sim['ctr'])}, "
        f"examined {_fmt(sim['examined_share'])} of impressions, "
        f"{_fmt(sim['pages_per_session'])} pages per session; CTR by position: "
        + " ".join(f"{p['position']}:{p['ctr']:.2f}" for p in sim["ctr_by_position"])
    )
    if "friends" in sim:
        f = sim["friends"]
        console.print(
            f"friends (the run's social graph) share {_fmt(f['sim']['lift'])}× what strangers "
            f"share in the simulation, {_fmt(f['real']['lift'])}× in the real held-out window"
        )
    console.print(
        "floor: distance between two random halves of the real users; distance: sim half "
        "vs the other real half (same sample sizes); ratio ≤ 1.5 is green. sim/real: means "
        "(genre_share: entropy in bits)."
    )


def print_dialogue_comparison(comparison: DialogueComparison, title: str) -> None:
    """The dialogue comparison table, then the stop reasons (the simulation's own)."""
    print_rows(comparison.rows, title)
    reasons = ", ".join(f"{k} {v:.0%}" for k, v in sorted(comparison.stop_reasons.items()))
    console.print(
        f"{comparison.simulated_dialogues} simulated dialogues vs {comparison.real_dialogues} "
        f"real ({comparison.against}). Stop reasons (simulated): {reasons or '–'}.\n"
        "floor: distance between random halves of the real dialogues, at the simulated "
        "sample size; ratio ≤ 1.5 is green. sim/real: means (user_speaks_last: a share)."
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
        typer.Option(help=f"one of {', '.join(target_names())}; chat: a chatbot kind"),
    ] = None,
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
def compare(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    against: Annotated[
        Path | None,
        typer.Option(
            help="chat runs: ConvAI2-format JSON, a file or a folder [$SIMFOLK_DATA/convai2]"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Hold a run against real people: held-out users, or human dialogues for a chat run."""
    if read_manifest(run_dir).get("kind") == "chat":
        real = against or _default_dialogues()
        chats = compare_chat_run(run_dir, real)
        if as_json:
            typer.echo(json.dumps(chats.as_dict(), indent=2))
        else:
            print_dialogue_comparison(chats, f"{run_dir}: simulated vs human dialogues")
        return
    if against is not None:
        raise ValueError("--against is for chat runs; a browsing run is held against its users")
    comparison = compare_run(run_dir)
    if as_json:
        typer.echo(json.dumps(comparison.as_dict(), indent=2))
    else:
        print_comparison(comparison, f"{run_dir}: simulated vs held-out real users")


def _default_dialogues() -> Path:
    root = os.environ.get("SIMFOLK_DATA")
    if not root or not (Path(root) / "convai2").exists():
        raise ValueError(
            "no human dialogues to compare with: pass --against PATH (ConvAI2 JSON), "
            "or set SIMFOLK_DATA to a folder holding convai2/"
        )
    return Path(root) / "convai2"


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


@app.command()
def ab(
    scenario: Annotated[str, typer.Argument(help="a scenario file, or a name in ./scenarios/")],
    arm: Annotated[
        list[str] | None,
        typer.Option(help="NAME=TARGET, repeated; default: the scenario's ARMS"),
    ] = None,
    control: Annotated[str | None, typer.Option(help="the arm held against [the first]")] = None,
    dataset: Annotated[str | None, typer.Option(help="a dataset name or path")] = None,
    personas: Annotated[int | None, typer.Option(help="how many users become personas")] = None,
    days: Annotated[int | None, typer.Option(help="simulated days")] = None,
    seed: Annotated[int | None, typer.Option(help="root seed")] = None,
    out: Annotated[Path | None, typer.Option(help="run directory [runs/<scenario>]")] = None,
    crn: Annotated[
        bool, typer.Option("--crn/--no-crn", help="common random numbers across arms")
    ] = True,
    workers: Annotated[int | None, typer.Option(help="processes [one per arm and core]")] = None,
    resume: Annotated[bool, typer.Option(help="continue the A/B run in --out")] = False,
    ensemble: Annotated[
        int,
        typer.Option(
            help="brains the CIs carry: the run's own plus N-1 calibrated on bootstrap "
            "resamples of train"
        ),
    ] = 1,
    exposure: ExposureFlag = None,
    page_share: PageShareOption = None,
) -> None:
    """Run an offline A/B test: every arm on the same personas, then the paired differences."""
    from simulator.ab import parse_arms, simulate_ab

    module = load_scenario(scenario)
    if not isinstance(module.CONFIG, RunConfig):
        raise ValueError(f"{scenario}: an A/B run needs a browsing scenario (a RunConfig)")
    arms = parse_arms(arm) if arm else dict(getattr(module, "ARMS", {}))
    if len(arms) < 2:
        raise ValueError(f"{scenario} declares no ARMS: give two or more --arm NAME=TARGET")
    updates = dict(dataset=dataset, personas=personas, days=days, seed=seed)
    config = RunConfig.model_validate(
        {**module.CONFIG.model_dump(), **{k: v for k, v in updates.items() if v is not None}}
    )
    config = config.model_copy(
        update={"exposure": with_doors(config.exposure, exposure, page_share)}
    )
    control = control or getattr(module, "CONTROL", None)
    if control not in arms:
        control = None
    run_dir = out or Path("runs") / config.scenario
    with console.status(f"{len(arms)} arms × {config.personas} personas × {config.days} days"):
        result = simulate_ab(
            config,
            arms,
            run_dir,
            control=control,
            crn=crn,
            resume=resume,
            workers=workers,
            ensemble=ensemble,
        )
    walls = ", ".join(f"{k} {v:.1f} s" for k, v in result.wall_seconds.items())
    console.print(f"{result.events} events in {run_dir} (simulation wall time: {walls})")
    print_ab(run_dir)
    console.print(f"report: simfolk report {run_dir}")


def print_ab(run_dir: Path) -> None:
    """Per-arm metrics with CIs, and each arm against the control."""
    from analysis.ab import analyse_ab_dir

    result = analyse_ab_dir(run_dir)
    brains = f", over an ensemble of {result.ensemble} brains" if result.ensemble > 1 else ""
    table = Table(title=f"arms ({result.personas} personas each; 95% bootstrap CIs{brains})")
    table.add_column("metric")
    for name in result.arms:
        table.add_column(name + (" (control)" if name == result.control else ""), justify="right")
    cells: dict[str, dict[str, str]] = {}
    for m in result.metrics:
        cells.setdefault(m.metric, {})[m.arm] = f"{m.value:.4g} [{m.ci_low:.4g}, {m.ci_high:.4g}]"
    for metric, row in cells.items():
        table.add_row(metric, *(row.get(a, "–") for a in result.arms))
    console.print(table)
    diffs = Table(title=f"against {result.control}: paired by persona, Holm-adjusted p")
    for column in ("arm", "metric", "diff", "95% CI", "p", "p (Holm)", ""):
        diffs.add_column(column, justify="left" if column in ("arm", "metric", "") else "right")
    for d in result.differences:
        flag = "guardrail broken" if d.violated else ("significant" if d.significant else "")
        style = "red" if d.violated or (d.significant and d.diff < 0) else "green"
        diffs.add_row(
            d.arm,
            d.metric,
            f"{d.diff:+.4g}",
            f"[{d.ci_low:+.4g}, {d.ci_high:+.4g}]",
            f"{d.p_value:.3g}",
            f"{d.p_adjusted:.3g}",
            f"[{style}]{flag}[/]" if flag else "",
        )
    console.print(diffs)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run or A/B run directory")],
    out: Annotated[Path | None, typer.Option(help="the HTML file [RUN_DIR/report.html]")] = None,
) -> None:
    """Write one self-contained HTML report (works offline)."""
    from analysis.report import write_report

    path = write_report(run_dir, out)
    console.print(f"report: {path}")


export_app = typer.Typer(
    help="Write a run's results in formats other tools read.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@export_app.command("dialogues")
def export_dialogues_command(
    run_dir: Annotated[Path, typer.Argument(help="a chat run directory")],
    format: Annotated[
        Literal["openai", "sharegpt", "hf"],
        typer.Option("--format", help="openai: chat JSONL; sharegpt: JSON; hf: Parquet"),
    ],
    out: Annotated[Path, typer.Option(help="the file to write")],
    dedup: Annotated[
        Literal["none", "exact", "near"], typer.Option(help="drop duplicate dialogues")
    ] = "exact",
    near_threshold: Annotated[
        float, typer.Option(help="near: MinHash Jaccard similarity that counts as a duplicate")
    ] = 0.9,
    scrub_pii: Annotated[
        bool, typer.Option("--scrub-pii/--keep-pii", help="mask emails, phones, cards, keys")
    ] = False,
    diversity_report: Annotated[
        Path | None, typer.Option(help="write distinct-n and embedding spread here (JSON)")
    ] = None,
) -> None:
    """Export a chat run's dialogues as a dataset, with persona and run provenance."""
    from analysis.export import export_dialogues

    summary = export_dialogues(
        run_dir,
        format,
        out,
        dedup=dedup,
        near_threshold=near_threshold,
        scrub_pii=scrub_pii,
        diversity_report=diversity_report,
    )
    console.print(
        f"{summary.written} of {summary.dialogues_in} dialogues → {summary.path} "
        f"(dropped: {summary.exact_duplicates} exact and {summary.near_duplicates} near "
        f"duplicates, {summary.empty} without an exchange)"
    )
    if summary.pii_replacements:
        console.print(f"PII masked: {dict(summary.pii_replacements)}")
    if summary.diversity is not None:
        console.print(
            "diversity: " + ", ".join(f"{k} {_fmt(v)}" for k, v in summary.diversity.items())
        )


def main() -> None:
    """Entry point: bad input ends with its message and exit status 2, not a traceback."""
    try:
        app()
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
