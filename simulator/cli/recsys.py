"""The command line's side of the recommender domain: `run` with day progress, `compare`."""

from __future__ import annotations

import json
import resource
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.cli.app import console
from simulator.cli.options import COMMON, LLM_OPTIONS, llm_overrides

if TYPE_CHECKING:
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.run import RunResult
    from simulator.domains.recsys.world import World


def _run_with_progress(module: Any, config: RunConfig, out: Path, resume: bool) -> RunResult:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        label = f"{config.scenario} · {config.target}"
        task = progress.add_task(label, total=config.days, unit="simulated days")
        options: dict[str, Any] = {}
        if config.brain != "utility":
            # A day of LLM decisions can take minutes: count the requests as they go out.
            asked = progress.add_task("model requests sent", total=None, unit="")

            def on_llm(llm: Any) -> None:
                llm.on_request = lambda _request: progress.update(asked, advance=1)

            options["on_llm"] = on_llm

        def on_day(world: World) -> None:
            progress.update(task, completed=world.day)

        from simulator.scenario import run_scenario

        result: RunResult = run_scenario(
            module, config, out, resume=resume, on_day=on_day, **options
        )
    return result


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class RecsysCommands:
    """Browsing a recommender: days of sessions, held against the users' held-out ratings."""

    options = COMMON | {
        "days", "target", "brain", "engine", "population", "shards", "shard_on", "exposure",
        "page_share", "archetypes", *LLM_OPTIONS
    }  # fmt: skip

    def configure(self, config: BaseModel, options: Mapping[str, Any]) -> BaseModel:
        """The scenario's config with the run options given."""
        from simulator.domains.recsys.config import RunConfig
        from simulator.domains.recsys.exposure.config import with_doors

        fields = (
            "dataset", "personas", "personas_file", "days", "seed", "target", "brain", "engine",
            "population", "shards", "shard_on",
        )  # fmt: skip
        update = {k: options[k] for k in fields if k in options}
        llm = llm_overrides(config, options)
        settings = config.model_dump()
        if "archetypes" in options:
            settings["archetypes"] = {**settings["archetypes"], "count": options["archetypes"]}
        fitted = RunConfig.model_validate({**settings, **update, "llm": llm})
        doors = with_doors(fitted.exposure, options.get("exposure"), options.get("page_share"))
        return fitted.model_copy(update={"exposure": doors})

    def run(self, module: ModuleType, config: Any, out: Path, resume: bool) -> None:
        """The run with a bar of simulated days, then events, speed and memory."""
        result = _run_with_progress(module, config, out, resume)
        rate = result.events / result.wall_seconds if result.wall_seconds else float("nan")
        state = result.status if result.complete else f"paused after day {result.days_done}"
        console.print(
            f"{result.events} events ({state}{', resumed' if result.resumed else ''}) in "
            f"{result.wall_seconds:.1f} s: {rate:,.0f} events/s, "
            f"peak memory {_peak_mib():,.0f} MiB\n"
            f"trace: {result.run_dir}/events   compare: simfolk compare {result.run_dir}"
        )

    def compare(
        self, run_dir: Path, against: Path | None, as_json: bool, format: str = "auto"
    ) -> None:
        """The run against the same users' held-out ratings."""
        from analysis.run_compare import compare_run
        from simulator.cli.render import print_comparison

        if against is not None or format != "auto":
            raise ValueError(
                "--against and --format are for chat runs; a browsing run is held against its users"
            )
        comparison = compare_run(run_dir)
        if as_json:
            typer.echo(json.dumps(comparison.as_dict(), indent=2))
        else:
            print_comparison(comparison, f"{run_dir}: simulated vs held-out real users")


COMMANDS = RecsysCommands()
