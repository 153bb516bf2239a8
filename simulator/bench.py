"""`simfolk bench`: benchmarks of the persona agents. The protocols live in `analysis.fidelity`."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from analysis.fidelity import FidelityReport, fidelity, parse_ratios
from simulator.config import RunConfig

app = typer.Typer(
    help="Benchmarks: how faithful the persona agents are to the real users behind them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_report(report: FidelityReport) -> None:
    from simulator.cli import print_comparison  # the cli imports this module

    data = report.as_dict()
    wall = data["wall_seconds"]
    console.print(
        f"[bold]fidelity[/] of {data['users']} personas ({data['dataset']['name']}, seed "
        f"{data['seed']}), built from train, scored on each user's held-out ratings"
    )
    micro = Table(title=f"micro: would watch? (lists of ≤ 20, pooled) · {wall['micro']:.1f} s")
    for column in ("1:m", "accuracy", "precision", "recall", "F1", "lists"):
        micro.add_column(column, justify="right")
    for row in data["micro"]:
        micro.add_row(
            f"1:{row['ratio']}",
            *(_fmt(row[k]) for k in ("accuracy", "precision", "recall", "f1")),
            str(row["lists"]),
        )
    console.print(micro)
    r = data["ratings"]
    ratings = Table(title=f"ratings: predicted vs held-out · {wall['ratings']:.1f} s")
    for column in ("RMSE", "MAE", "W1", "n"):
        ratings.add_column(column, justify="right")
    ratings.add_row(_fmt(r["rmse"]), _fmt(r["mae"]), _fmt(r["w1"]), str(r["n"]))
    console.print(ratings)
    if report.macro is not None:
        print_comparison(
            report.macro.comparison, f"macro: simulated vs held-out real · {wall['macro']:.1f} s"
        )


@app.command("fidelity")
def fidelity_command(
    dataset: Annotated[str, typer.Option(help="a dataset name or the path of a MovieLens folder")],
    users: Annotated[
        int | None, typer.Option(help="how many users to draw [all]", show_default=False)
    ] = None,
    ratios: Annotated[str, typer.Option(help="negatives per positive, comma-separated")] = "1,3,9",
    brain: Annotated[str, typer.Option(help="the brain to score")] = "utility",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    days: Annotated[int, typer.Option(help="simulated days of the macro run")] = 7,
    target: Annotated[str, typer.Option(help="the recommender of the macro run")] = "itemknn",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Micro (list task), ratings and macro (simulation vs real) fidelity on held-out data."""
    parsed = parse_ratios(ratios)
    config = RunConfig(
        scenario="bench-fidelity", dataset=dataset, seed=seed, days=days, target=target, brain=brain
    )
    report = fidelity(config, users=users, ratios=parsed)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
