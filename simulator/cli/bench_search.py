"""`simfolk bench search`: simulated searchers against real TREC sessions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from analysis.numbers import fmt
from simulator.cli.app import console, working
from simulator.cli.bench import app
from simulator.cli.options import AsJson


@app.command("search")
def search_command(
    sessions: Annotated[
        str,
        typer.Option(help="the TREC Session Track file, its folder, or a name under SIMFOLK_DATA"),
    ] = "trec-session-2013",
    engine: Annotated[
        str,
        typer.Option(
            help="the search engine under test: bm25, bm25-minilm, or MODULE:ATTR (yours)"
        ),
    ] = "bm25",
    replicates: Annotated[int, typer.Option(help="simulated sessions per held-out session")] = 3,
    seed: Annotated[int, typer.Option(help="root seed (the topic split, every draw)")] = 0,
    export: Annotated[
        Path | None,
        typer.Option(help="write the simulated sessions here (Parquet, JSON Lines, TREC XML)"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Fit searchers on half the topics, live the other half's needs again, compare with real."""
    from analysis.bootstrap import json_safe
    from analysis.splithalf import ComparisonRow
    from personas.datasets import DatasetError
    from simulator.cli.render import print_rows
    from simulator.experiments.search_bench import bench_search

    try:
        with working("bench search"):
            data = bench_search(
                sessions, engine=engine, replicates=replicates, seed=seed, export=export
            )
    except DatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sessions") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(json_safe(data), indent=2))
        return
    rows = [ComparisonRow.from_dict(row) for row in data["rows"]]
    print_rows(
        rows,
        f"search: {data['simulated_sessions']} simulated sessions ({data['engine']}) vs "
        f"{data['heldout_sessions']} real held-out ones ({data['topics']['heldout']} topics "
        f"never fitted on)",
    )
    fitted = ", ".join(f"{row['metric']} {fmt(row['ratio'])}" for row in data["fitted_half_rows"])
    console.print(
        f"the real sessions of the fitted topics, held against the same ones (ratio): {fitted}",
        highlight=False,
    )
    steps, published = data["step_tasks"], data["usimagent_published"]
    console.print(
        f"per step, on the real held-out sessions: click accuracy {fmt(steps['click_accuracy'])} "
        f"F1 {fmt(steps['click_f1'])} ({steps['results']} results, {fmt(steps['clicked_share'])} "
        f"clicked); stop accuracy {fmt(steps['stop_accuracy'])} (always the commoner answer: "
        f"{fmt(steps['majority_stop_accuracy'])}). USimAgent, on its own sessions: "
        f"{published['click_accuracy']} / {published['click_f1']} / {published['stop_accuracy']}"
    )
    if data["exported"]:
        console.print("simulated sessions: " + ", ".join(data["exported"].values()))
