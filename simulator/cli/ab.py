"""`simfolk ab`: every arm on the same personas, then the paired differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.cli.app import app, console
from simulator.cli.options import ExposureFlag, PageShareOption


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
    from simulator.cli.render import print_ab
    from simulator.config import RunConfig
    from simulator.domains import DOMAINS
    from simulator.exposure.config import with_doors
    from simulator.scenario import load_scenario

    module = load_scenario(scenario)
    domain = DOMAINS.for_config(module.CONFIG)
    if domain.name != "recsys":
        raise ValueError(
            f"{scenario} is a {domain.name} scenario; A/B runs compare recommenders so far"
        )
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
