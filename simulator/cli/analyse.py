"""`simfolk compare`, `report` and `export`: a finished run held against people, and written out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from analysis.numbers import fmt
from simulator.cli.app import app, console
from simulator.cli.options import AsJson


@app.command()
def compare(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    against: Annotated[
        Path | None,
        typer.Option(
            help="chat runs: human transcripts (ConvAI2 JSON, ShareGPT JSON or OpenAI-messages "
            "JSONL), a file or a folder [$SIMFOLK_DATA/convai2]"
        ),
    ] = None,
    format: Annotated[
        str, typer.Option(help="the transcripts' format: auto, convai2, sharegpt, openai")
    ] = "auto",
    as_json: AsJson = False,
) -> None:
    """Hold a run against real people: held-out users, or human dialogues for a chat run."""
    from simulator.cli.domains import commands
    from simulator.domains import DOMAINS

    commands(DOMAINS.of_run(run_dir)).compare(run_dir, against, as_json, format)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run or A/B run directory")],
    out: Annotated[Path | None, typer.Option(help="the HTML file [RUN_DIR/report.html]")] = None,
) -> None:
    """Write one self-contained HTML report (works offline)."""
    from analysis.report import write_report

    path = write_report(run_dir, out, strict=True)
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
    test_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="split by persona: this share of personas to OUT-test, the rest to OUT-train",
        ),
    ] = None,
    card: Annotated[
        bool,
        typer.Option(
            "--card/--no-card",
            help="write a dataset card (README.md with the `datasets` YAML header) beside OUT",
        ),
    ] = False,
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
        test_share=test_share,
        card=card,
    )
    where = ", ".join(f"{name} {path}" for name, path in summary.files.items())
    console.print(
        f"{summary.written} of {summary.dialogues_in} dialogues → {where} "
        f"(dropped: {summary.exact_duplicates} exact and {summary.near_duplicates} near "
        f"duplicates, {summary.empty} without an exchange)"
    )
    if summary.card is not None:
        console.print(f"dataset card: {summary.card}")
    if summary.pii_replacements:
        console.print(f"PII masked: {dict(summary.pii_replacements)}")
    if summary.diversity is not None:
        console.print(
            "diversity: " + ", ".join(f"{k} {fmt(v)}" for k, v in summary.diversity.items())
        )


@export_app.command("sessions")
def export_sessions_command(
    run_dir: Annotated[Path, typer.Argument(help="a search run directory")],
    out: Annotated[Path, typer.Option(help="the folder to write into")],
) -> None:
    """Export a search run's sessions: one row per query (Parquet, JSON Lines) and TREC XML."""
    from analysis.search_export import export_sessions
    from analysis.search_runs import sessions_from_run
    from personas.datasets.trec import write_trec_sessions
    from simulator.domains import DOMAINS

    domain = DOMAINS.of_run(run_dir).name
    if domain != "search":
        raise ValueError(f"{run_dir}: a {domain} run; `export sessions` takes a search run")
    sessions = sessions_from_run(run_dir)
    written = export_sessions(sessions, out)
    written["sessions.xml"] = write_trec_sessions(sessions, out / "sessions.xml")
    console.print(
        f"{len(sessions)} sessions → " + ", ".join(str(p) for p in written.values()),
        highlight=False,
    )
