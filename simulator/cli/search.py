"""The command line's side of the search domain: `run` with session progress, `compare`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.cli.app import console
from simulator.cli.options import LLM_OPTIONS, llm_overrides


class SearchCommands:
    """Using a search engine: one session per searcher, held against real TREC sessions."""

    options = frozenset({"dataset", "personas", "seed", "target", "brain", *LLM_OPTIONS})

    def configure(self, config: BaseModel, options: Mapping[str, Any]) -> BaseModel:
        """The run options given (--target: the engine; --brain: fitted or llm queries)."""
        from simulator.domains.search.config import SearchConfig

        update = {k: options[k] for k in ("dataset", "personas", "seed", "brain") if k in options}
        if "target" in options:
            update["engine"] = options["target"]
        update["llm"] = llm_overrides(config, options)
        return SearchConfig.model_validate({**config.model_dump(), **update})

    def run(self, module: ModuleType, config: Any, out: Path, resume: bool) -> None:
        """The run with a bar of sessions ended, then sessions per second."""
        from simulator.domains.search.world import SearchWorld
        from simulator.scenario import run_scenario

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("sessions ended"), TimeElapsedColumn(), console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task(f"{config.scenario} · {config.engine}", total=None)

            def on_step(world: SearchWorld) -> None:
                progress.update(task, completed=world.counters["ended"],
                                total=len(world.population))  # fmt: skip

            result = run_scenario(module, config, out, resume=resume, on_step=on_step)
        rate = result.ended / result.run_seconds if result.run_seconds else float("nan")
        console.print(
            f"{result.ended}/{result.sessions} sessions ended ({result.status}"
            f"{', resumed' if result.resumed else ''}): {result.queries} queries, "
            f"{result.clicks} clicks, {result.events} events in {result.wall_seconds:.1f} s "
            f"({rate:.0f} sessions/s)\n"
            f"trace: {result.run_dir}/events   compare: simfolk compare {result.run_dir}",
            highlight=False,
        )

    def compare(
        self, run_dir: Path, against: Path | None, as_json: bool, format: str = "auto"
    ) -> None:
        """The run's sessions against real ones: its held-out topics, or --against (TREC XML)."""
        from analysis.numbers import fmt
        from analysis.search_runs import compare_search_run
        from simulator.cli.render import print_rows

        if format not in ("auto", "trec"):
            raise ValueError(f"a search run compares with TREC sessions: --format {format}?")
        comparison = compare_search_run(run_dir, against)
        if as_json:
            typer.echo(json.dumps(comparison.as_dict(), indent=2))
            return
        print_rows(
            comparison.rows,
            f"{run_dir}: {comparison.simulated_sessions} simulated sessions vs "
            f"{comparison.real_sessions} real ones from {comparison.against}",
        )
        ends = ", ".join(f"{k} {fmt(v)}" for k, v in comparison.end_reasons.items())
        console.print(f"how simulated sessions ended: {ends}", highlight=False)


COMMANDS = SearchCommands()
