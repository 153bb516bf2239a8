"""`simfolk bench archetypes`: LLM tokens per persona-decision, per persona and by archetype."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from analysis.numbers import fmt
from simulator.cli.app import console, working
from simulator.cli.bench import app
from simulator.cli.options import AsJson


@app.command("archetypes")
def archetypes_command(
    personas: Annotated[int, typer.Option(help="personas of the --brain archetype run")] = 500,
    days: Annotated[int, typer.Option(help="simulated days of the archetype run")] = 2,
    llm_personas: Annotated[int, typer.Option(help="personas of the --brain llm run")] = 8,
    llm_days: Annotated[int, typer.Option(help="simulated days of the llm run")] = 1,
    archetypes: Annotated[int, typer.Option(min=1, help="archetypes (k-means clusters)")] = 16,
    dataset: Annotated[str, typer.Option(help="a dataset name or path")] = "ml-latest-small",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """Tokens per page decision: the per-persona LLM brain against the archetype brain."""
    from simulator.domains.recsys.brains.archetypes import ArchetypeConfig
    from simulator.experiments.archetypes import bench_archetypes

    with working("bench archetypes"):
        data = bench_archetypes(
            dataset=dataset,
            personas=personas,
            days=days,
            llm_personas=llm_personas,
            llm_days=llm_days,
            archetypes=ArchetypeConfig(count=archetypes),
            seed=seed,
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"LLM tokens per page decision, {data['model']}")
    for column in ("brain", "personas x days", "decisions", "calls", "tokens", "per decision"):
        table.add_column(column, justify="right")
    for name in ("llm", "archetype"):
        row = data[name]
        table.add_row(
            name,
            f"{row['personas']} x {row['days']}",
            str(row["decisions"]),
            str(row["calls"]),
            str(row["tokens"]),
            fmt(row["tokens_per_decision"], 1),
        )
    console.print(table)
    console.print(
        f"archetype calls at most {data['archetype']['calls_at_most']} for any population; "
        f"per-persona / archetype tokens per decision = [bold]{fmt(data['ratio'], 1)}[/]"
    )
