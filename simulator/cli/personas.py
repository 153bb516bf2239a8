"""`simfolk personas`: persona tools; `backstories` writes and checks LLM backstories."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from analysis.numbers import fmt
from simulator.cli.app import app as root
from simulator.cli.app import console

if TYPE_CHECKING:
    from personas.backstory_report import BackstoryReport
    from personas.sampled import People
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.run import Prepared

app = typer.Typer(
    help="Personas: LLM-written backstories and their consistency check.",
    no_args_is_help=True,
    add_completion=False,
)
root.add_typer(app, name="personas")


@app.callback()
def _personas() -> None:
    """Persona tools (a group, so that `backstories` stays a named sub-command)."""


def run_personas(config: RunConfig) -> tuple[Prepared, People]:
    """The personas a run with `config` would build: same data, split, users and builder."""
    from simulator.core.rng import Streams
    from simulator.domains.recsys.run import prepare
    from simulator.population import build_run_personas

    prep = prepare(config)
    return prep, build_run_personas(config, prep, Streams(config.seed))


def print_report(report: BackstoryReport) -> None:
    """The mismatch table and a line of counts."""
    from personas.backstory_report import report_rows

    console.print(
        f"[bold]backstory consistency[/] of {report.n} personas, written and read back by "
        f"{report.model} (seed {report.seed}): {report.checked} checked, "
        f"{len(report.failures)} failed, {report.wall_seconds:.1f} s"
    )
    table = Table()
    for column in ("attribute", "mismatch", "strict", "chance"):
        table.add_column(column, justify="left" if column == "attribute" else "right")
    for row in report_rows(report):
        table.add_row(row["attribute"], *(fmt(row[k]) for k in ("mismatch", "strict", "chance")))
    console.print(table)
    console.print(
        f"{report.cache_hits}/{report.calls} answers from the cache. mismatch: mean over the "
        "personas checked (top_genres: 1 - overlap/3; others 0/1); strict: a failure counts "
        "as 1; chance: each read-back against the other personas' facts."
    )
    for failure in report.failures:
        console.print(f"  [red]{failure.persona_id}[/] ({failure.stage}): {failure.error}")


@app.command()
def backstories(
    out: Annotated[Path, typer.Option(help="personas with backstories (.json/.yaml)")],
    dataset: Annotated[str, typer.Option(help="dataset name or folder")] = "ml-latest-small",
    personas: Annotated[int, typer.Option(min=1, help="how many users become personas")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="root seed: users and LLM calls")] = 0,
    model: Annotated[str, typer.Option(help="'local' (embedded SmolLM2) or a litellm model")] = (
        "local"
    ),
    api_base: Annotated[
        str | None, typer.Option(help="an OpenAI-compatible endpoint for --model")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="report JSON; default: OUT's name + .report.json")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="replay answers from the response cache ($SIMFOLK_CACHE_DIR)")
    ] = True,
    concurrency: Annotated[int, typer.Option(min=1, help="LLM requests in flight")] = 4,
) -> None:
    """Build personas as a run does, have the model write their backstories, check them.

    The personas are the ones `simfolk run` builds with the same dataset, count and
    seed. Each story is read back by the same model; the table shows how often the
    facts read back differ from those the story was written from.
    """
    from personas.anthology import check_backstories
    from personas.atomic import write_text_atomically
    from personas.backstory_report import with_backstories
    from personas.io import save_personas
    from simulator.domains.recsys.config import RunConfig
    from simulator.llm.config import LLMConfig
    from simulator.llm.session import language_model, llm_cache_path

    config = RunConfig(dataset=dataset, personas=personas, seed=seed)
    prep, people = run_personas(config)
    report_path = report or out.with_name(f"{out.stem}.report.json")
    llm_config = LLMConfig(model=model, api_base=api_base, concurrency=concurrency, cache=cache)
    if cache:
        console.print(f"response cache: {llm_cache_path()}")
    with language_model(llm_config, run_dir=None) as llm:
        loop = asyncio.new_event_loop()
        try:
            result = loop.run_until_complete(
                check_backstories(
                    llm,
                    people,
                    seed=seed,
                    genres=prep.dataset.genres,
                    scale=prep.dataset.scale,
                    words=prep.dataset.words,
                )
            )
        finally:
            loop.run_until_complete(llm.aclose())
            loop.close()
    save_personas(with_backstories(people, result), out)
    write_text_atomically(report_path, json.dumps(result.model_dump(mode="json"), indent=1))
    print_report(result)
    console.print(f"personas: {out}\nreport: {report_path}")
