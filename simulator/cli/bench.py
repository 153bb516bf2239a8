"""`simfolk bench`: benchmarks of the persona agents (their protocols live beside the engine)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from analysis.numbers import fmt
from simulator.cli.app import app as root
from simulator.cli.app import console, working
from simulator.cli.options import AsJson, ExposureFlag, PageShareOption

if TYPE_CHECKING:
    from analysis.fidelity import FidelityReport

app = typer.Typer(
    help="Benchmarks: how faithful the persona agents are to the real users behind them.",
    no_args_is_help=True,
    add_completion=False,
)
root.add_typer(app, name="bench")


def _print_report(report: FidelityReport) -> None:
    from simulator.cli.render import print_comparison

    data = report.as_dict()
    wall = data["wall_seconds"]
    r = data["ratings"]
    plays = r["quantity"] == "log_plays"  # implicit feedback: plays, no ratings
    console.print(
        f"[bold]fidelity[/] of {data['users']} personas ({data['dataset']['name']}, seed "
        f"{data['seed']}), built from train, scored on each user's held-out "
        f"{'consumptions' if plays else 'ratings'}"
    )
    micro = Table(title=f"micro: would watch? (lists of ≤ 20, pooled) · {wall['micro']:.1f} s")
    for column in ("1:m", "accuracy", "precision", "recall", "F1", "lists"):
        micro.add_column(column, justify="right")
    for row in data["micro"]:
        micro.add_row(
            f"1:{row['ratio']}",
            *(fmt(row[k]) for k in ("accuracy", "precision", "recall", "f1")),
            str(row["lists"]),
        )
    console.print(micro)
    what = "log(1 + plays)" if plays else "rating"
    ratings = Table(
        title=f"{'plays' if plays else 'ratings'}: predicted vs held-out · {wall['ratings']:.1f} s"
    )
    for column in (what, "RMSE", "MAE", "W1", "n"):
        ratings.add_column(column, justify="left" if column == what else "right")
    ratings.add_row("expected" if plays else "most likely", fmt(r["rmse"]), fmt(r["mae"]),
                    fmt(r["w1"]), str(r["n"]))  # fmt: skip
    for name, label in (
        ("expected", "expected (off the scale)"),
        ("sampled", "drawn, as in a run"),
    ):
        if name in r:
            ratings.add_row(label, fmt(r[name]["rmse"]), "", fmt(r[name]["w1"]), str(r["n"]))
    console.print(ratings)
    if report.failed and any(report.failed.values()):
        console.print(f"answers the model could not give (left out): {report.failed}")
    if report.macro is not None:
        print_comparison(
            report.macro.comparison, f"macro: simulated vs held-out real · {wall['macro']:.1f} s"
        )


@app.command("fidelity")
def fidelity_command(
    dataset: Annotated[
        str,
        typer.Option(
            help="a dataset name, a MovieLens folder, or your own log (its folder or mapping file)"
        ),
    ],
    users: Annotated[
        int | None, typer.Option(help="how many users to draw [all]", show_default=False)
    ] = None,
    ratios: Annotated[str, typer.Option(help="negatives per positive, comma-separated")] = "1,3,9",
    brain: Annotated[str, typer.Option(help="utility, llm, hybrid or archetype")] = "utility",
    model: Annotated[
        str, typer.Option(help="for a brain with words: 'local' or a litellm model string")
    ] = "local",
    archetypes: Annotated[
        int, typer.Option(min=1, help="--brain archetype: archetypes (k-means clusters)")
    ] = 16,
    api_base: Annotated[str | None, typer.Option(help="an OpenAI-compatible endpoint")] = None,
    macro: Annotated[bool, typer.Option(help="also simulate and compare (macro)")] = True,
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    days: Annotated[int, typer.Option(help="simulated days of the macro run")] = 7,
    target: Annotated[str, typer.Option(help="the recommender of the macro run")] = "itemknn",
    exposure: ExposureFlag = False,
    page_share: PageShareOption = None,
    as_json: AsJson = False,
) -> None:
    """Micro (list task), ratings and macro (simulation vs real) fidelity on held-out data."""
    from analysis.fidelity import fidelity
    from analysis.fidelity_lists import parse_ratios
    from simulator.domains.recsys.brains.archetypes import ArchetypeConfig
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.exposure.config import ExposureConfig, with_doors
    from simulator.llm.config import LLMConfig

    parsed = parse_ratios(ratios)
    config = RunConfig(
        scenario="bench-fidelity",
        dataset=dataset,
        seed=seed,
        days=days,
        target=target,
        brain=brain,
        llm=LLMConfig(model=model, api_base=api_base),
        exposure=with_doors(ExposureConfig(), exposure, page_share),
        archetypes=ArchetypeConfig(count=archetypes),
    )
    with working("bench fidelity"):
        report = fidelity(config, users=users, ratios=parsed, macro=macro)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)


@app.command("llm")
def llm_command(
    personas: Annotated[int, typer.Option(help="LLM personas, all arriving at once")] = 32,
    slots: Annotated[int, typer.Option(help="embedded server slots = concurrency")] = 4,
    days: Annotated[int, typer.Option(help="simulated days")] = 1,
    window: Annotated[float, typer.Option(help="broker window, simulated seconds")] = 600.0,
    max_tokens: Annotated[int, typer.Option(help="completion tokens per call, at most")] = 96,
    dataset: Annotated[str, typer.Option(help="a dataset name or path")] = "ml-latest-small",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """Tokens per decision, and simfolk's server throughput against a raw load generator."""
    from simulator.experiments.llm_load import bench_llm

    with working("bench llm"):
        data = bench_llm(
            dataset=dataset,
            personas=personas,
            days=days,
            slots=slots,
            window=window,
            max_tokens=max_tokens,
            seed=seed,
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    d = data["per_decision"]
    console.print(
        f"[bold]LLM decisions[/] by {personas} personas over {days} day(s), {data['model']}, "
        f"{slots} slots\n"
        f"prompt tokens per page decision: mean {d['prompt_tokens_mean']:.0f}, max "
        f"{d['prompt_tokens_max']}; completion tokens: mean {d['completion_tokens_mean']:.1f} "
        f"({d['decisions']} decisions, {d['failed_requests']} failed requests)"
    )
    table = Table(title="server output tokens/s")
    for column in ("load", "requests", "output tokens", "seconds", "tokens/s"):
        table.add_column(column, justify="right")
    for name in ("simfolk", "raw"):
        row = data[name]
        table.add_row(
            name,
            str(row["requests"]),
            str(row["completion_tokens"]),
            f"{row['seconds']:.1f}",
            f"{row['tokens_per_second']:.1f}",
        )
    console.print(table)
    console.print(f"simfolk / raw = [bold]{data['ratio']:.3f}[/] (goal ≥ 0.9)")


@app.command("chat")
def chat_command(
    personas: Annotated[int, typer.Option(help="persona users, one dialogue each")] = 100,
    against: Annotated[
        list[str] | None,
        typer.Option(help="ConvAI2 JSON (file or folder) to compare with; repeatable"),
    ] = None,
    out: Annotated[str | None, typer.Option(help="keep the run here [a temporary folder]")] = None,
    slots: Annotated[int, typer.Option(help="embedded server slots")] = 4,
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    arrival_window: Annotated[
        float | None, typer.Option(help="seconds in which dialogues open [the scenario's]")
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="replay cached answers (off: time the model)")
    ] = False,
    scenario: Annotated[
        str, typer.Option(help="a chat scenario file, or a name in ./scenarios/")
    ] = "support_chat",
    as_json: AsJson = False,
) -> None:
    """A chat scenario on the embedded model: dialogues/min, and how human it reads."""
    from simulator.cli.render import print_dialogue_comparison
    from simulator.experiments.chat_bench import bench_chat

    with working("bench chat"):
        data, comparisons = bench_chat(
            scenario=scenario,
            personas=personas,
            against=against or [],
            out=out,
            slots=slots,
            seed=seed,
            cache=cache,
            arrival_window=arrival_window,
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console.print(
        f"[bold]chat[/]: {data['dialogues']} dialogues, {data['messages']} messages, "
        f"{data['run_seconds']:.1f} s → [bold]{data['dialogues_per_minute']:.1f} dialogues/min[/] "
        f"({data['model']}, {slots} slots, {data['llm_requests']} model requests, "
        f"{data['bot_requests']} chatbot replies)"
    )
    for comparison in comparisons:
        print_dialogue_comparison(comparison, f"simulated vs {comparison.against}")


@app.command("aa")
def aa_command(
    seeds: Annotated[int, typer.Option(help="A/A experiments, one per seed")] = 100,
    personas: Annotated[int, typer.Option(help="personas per experiment")] = 60,
    days: Annotated[int, typer.Option(help="simulated days")] = 2,
    dataset: Annotated[str, typer.Option(help="a dataset name or path")] = "ml-latest-small",
    target: Annotated[str, typer.Option(help="the recommender of both A/A arms")] = "popularity",
    versus: Annotated[str, typer.Option(help="the B arm of the CRN comparison")] = "itemknn",
    crn_seeds: Annotated[int, typer.Option(help="A/B experiments for the CI widths")] = 10,
    n_boot: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    calibrate: Annotated[
        bool, typer.Option(help="calibrate the brain per seed (turns the return model on)")
    ] = False,
    ensemble: Annotated[
        int, typer.Option(help="brains per experiment (needs --calibrate), as in `ab --ensemble`")
    ] = 1,
    as_json: AsJson = False,
) -> None:
    """A/A false-positive rate over many seeds, and CI widths with vs without CRN."""
    from simulator.experiments.aa import bench_aa

    with working("bench aa"):
        data = bench_aa(
            seeds=seeds,
            personas=personas,
            days=days,
            dataset=dataset,
            target=target,
            versus=versus,
            crn_seeds=crn_seeds,
            n_boot=n_boot,
            calibrate=calibrate,
            ensemble=ensemble,
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    fpr = data["false_positive_rate"]
    table = Table(
        title=f"A/A: {seeds} seeds × {personas} personas × {days} days, {target} vs itself"
    )
    for column in ("metric", "p < 0.05", "CI width CRN", "CI width indep.", "ratio"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    widths = data["ci_width"]
    for metric, rate in fpr["per_metric"].items():
        table.add_row(
            metric,
            f"{rate:.1%}",
            fmt(widths["crn"].get(metric)),
            fmt(widths["independent"].get(metric)),
            fmt(widths["ratio_crn_to_independent"].get(metric)),
        )
    console.print(table)
    console.print(
        f"pooled false-positive rate {fpr['pooled']:.1%} over {fpr['tests']} tests "
        f"(expected about 5%); experiments with any metric significant after Holm: "
        f"{fpr['any_metric_after_holm']:.1%}. CI widths: {target} vs {versus} over "
        f"{widths['seeds']} seeds, with and without common random numbers."
    )


@app.command("service")
def service_command(
    dataset: Annotated[str, typer.Option(help="a dataset name or path")] = "ml-latest-small",
    personas: Annotated[int, typer.Option(help="how many users become personas")] = 100,
    days: Annotated[int, typer.Option(help="simulated days")] = 3,
    target: Annotated[str, typer.Option(help="a registered target or MODULE:ATTR")] = "itemknn",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """One run in process and over HTTP (simfolk serve recommender): speed and requests per page."""
    from simulator.experiments.service import bench_service

    with working("bench service"):
        data = bench_service(
            dataset=dataset, personas=personas, days=days, target=target, seed=seed
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    speed = data["events_per_second"]
    console.print(
        f"{data['events']} events; in process {speed['in_process']:.0f}/s, over HTTP "
        f"{speed['http']:.0f}/s ({data['http_over_in_process']:.2f}x); "
        f"{fmt(data['requests_per_page'])} requests per page; same events: {data['same_events']}"
        f", same files: {data['same_files']}"
    )
