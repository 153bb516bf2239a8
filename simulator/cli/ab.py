"""`simfolk ab`: every arm on the same personas, then the paired differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from simulator.cli.app import app, console
from simulator.cli.options import ExposureFlag, PageShareOption


@app.command()
def ab(
    scenario: Annotated[str, typer.Argument(help="a scenario file, or a name in ./scenarios/")],
    arm: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=TARGET, repeated (TARGET as for `run --target`: a name, MODULE:ATTR or "
            "http://HOST:PORT); default: the scenario's ARMS"
        ),
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
    judge: Annotated[
        bool, typer.Option("--judge/--no-judge", help="chat arms: also judge goals with the LLM")
    ] = True,
    exposure: ExposureFlag = None,
    page_share: PageShareOption = None,
) -> None:
    """Run an offline A/B test: every arm on the same personas, then the paired differences."""
    from simulator.cli.render import print_ab
    from simulator.domains import DOMAINS
    from simulator.domains.recsys.ab import parse_arms, simulate_ab
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.exposure.config import with_doors
    from simulator.scenario import load_scenario

    module = load_scenario(scenario)
    domain = DOMAINS.for_config(module.CONFIG)
    if domain.name == "chat":
        foreign = [
            flag
            for flag, given in (
                ("--days", days is not None),
                ("--ensemble", ensemble != 1),
                ("--no-crn", not crn),
                ("--workers", workers is not None),
                ("--exposure", exposure is not None),
                ("--page-share", page_share is not None),
            )
            if given
        ]
        if foreign:
            raise ValueError(
                f"{scenario} is a chat scenario: its A/B run takes no {', '.join(foreign)}"
            )
        _chat_ab(module, scenario, arm, control, dataset, personas, seed, out, resume, judge)
        return
    if domain.name == "search":
        foreign = [
            flag
            for flag, given in (
                ("--days", days is not None),
                ("--ensemble", ensemble != 1),
                ("--no-crn", not crn),
                ("--workers", workers is not None),
                ("--exposure", exposure is not None),
                ("--page-share", page_share is not None),
                ("--no-judge", not judge),
            )
            if given
        ]
        if foreign:
            raise ValueError(
                f"{scenario} is a search scenario: its A/B run takes no {', '.join(foreign)}"
            )
        _search_ab(module, scenario, arm, control, dataset, personas, seed, out, resume)
        return
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


def _chat_ab(
    module: Any,
    scenario: str,
    arm: list[str] | None,
    control: str | None,
    dataset: str | None,
    personas: int | None,
    seed: int | None,
    out: Path | None,
    resume: bool,
    judge: bool,
) -> None:
    """Chatbot arms: NAME=KIND on the scenario's chatbot, or the scenario's ARMS of chatbots."""
    from personas.conversation import load_goals
    from simulator.cli.render import print_ab
    from simulator.domains.chat.ab import simulate_chat_ab
    from simulator.domains.chat.chatbots import check_chatbot_name
    from simulator.domains.recsys.ab import parse_arms

    base = module.CONFIG
    if arm:
        kinds = parse_arms(arm, check=check_chatbot_name)
        bots = {name: base.chatbot.model_copy(update={"kind": k}) for name, k in kinds.items()}
    else:
        bots = dict(getattr(module, "ARMS", {}))
    if len(bots) < 2:
        raise ValueError(f"{scenario} declares no ARMS: give two or more --arm NAME=KIND")
    given = dict(dataset=dataset, personas=personas, seed=seed)
    updates = {k: v for k, v in given.items() if v is not None}
    config = base.model_copy(update=updates)
    goals = load_goals(module.GOALS) if getattr(module, "GOALS", None) else None
    run_dir = out or Path("runs") / config.scenario
    control = control if control in bots else getattr(module, "CONTROL", None)
    with console.status(f"{len(bots)} chatbot arms × {config.personas} personas"):
        result = simulate_chat_ab(
            config,
            bots,
            run_dir,
            goals=goals,
            control=control if control in bots else None,
            resume=resume,
            judge=judge,
        )
    walls = ", ".join(f"{k} {v:.1f} s" for k, v in result.wall_seconds.items())
    console.print(f"{result.events} events in {run_dir} (simulation wall time: {walls})")
    print_ab(run_dir)
    console.print(f"report: simfolk report {run_dir}")


def _search_ab(
    module: Any,
    scenario: str,
    arm: list[str] | None,
    control: str | None,
    dataset: str | None,
    personas: int | None,
    seed: int | None,
    out: Path | None,
    resume: bool,
) -> None:
    """Engine arms: NAME=ENGINE, or the scenario's ARMS of engines."""
    from simulator.cli.render import print_ab
    from simulator.domains.recsys.ab import parse_arms
    from simulator.domains.search.ab import simulate_search_ab
    from simulator.domains.search.engines.spec import check_engine_name

    engines = parse_arms(arm, check=check_engine_name) if arm else dict(getattr(module, "ARMS", {}))
    if len(engines) < 2:
        raise ValueError(f"{scenario} declares no ARMS: give two or more --arm NAME=ENGINE")
    given = dict(dataset=dataset, personas=personas, seed=seed)
    config = module.CONFIG.model_copy(update={k: v for k, v in given.items() if v is not None})
    run_dir = out or Path("runs") / config.scenario
    control = control if control in engines else getattr(module, "CONTROL", None)
    with console.status(f"{len(engines)} engine arms"):
        result = simulate_search_ab(
            config,
            engines,
            run_dir,
            control=control if control in engines else None,
            resume=resume,
        )
    walls = ", ".join(f"{k} {v:.1f} s" for k, v in result.wall_seconds.items())
    console.print(f"{result.events} events in {run_dir} (simulation wall time: {walls})")
    print_ab(run_dir)
    console.print(f"report: simfolk report {run_dir}")
