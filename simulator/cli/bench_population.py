"""`simfolk bench validity` and `bench social`: is the population like real people?"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from analysis.numbers import fmt
from simulator.cli.app import console, working
from simulator.cli.bench import app
from simulator.cli.options import AsJson, ExposureFlag, PageShareOption


@app.command("validity")
def validity_command(
    dataset: Annotated[
        str,
        typer.Option(
            help="a dataset name, a MovieLens folder, or your own log (its folder or mapping file)"
        ),
    ],
    arms: Annotated[
        str | None, typer.Option(help="comma-separated target names [every registered target]")
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="heldout (calibrated on the scored users) or disjoint")
    ] = "heldout",
    personas: Annotated[
        int | None, typer.Option(help="personas [every user]", show_default=False)
    ] = None,
    days: Annotated[int, typer.Option(help="simulated days of the A/B run")] = 7,
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    ensemble: Annotated[
        int, typer.Option(help="brains calibrated on bootstrap resamples of train")
    ] = 1,
    n_boot: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    workers: Annotated[
        int | None, typer.Option(help="processes for the arms [one per core]", show_default=False)
    ] = None,
    out: Annotated[str | None, typer.Option(help="keep the A/B runs here")] = None,
    exposure: ExposureFlag = False,
    page_share: PageShareOption = None,
    as_json: AsJson = False,
) -> None:
    """Do simulated A/B verdicts rank recommenders as their offline metric on held-out data does?"""
    from simulator.domains.recsys.exposure.config import ExposureConfig, with_doors
    from simulator.experiments.validity import PROTOCOLS, bench_validity

    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"choose one of: {', '.join(PROTOCOLS)}", param_hint="--protocol")
    names = [a.strip() for a in arms.split(",") if a.strip()] if arms else None
    try:
        with working("bench validity"):
            data = bench_validity(
                dataset=dataset,
                arms=names,
                protocol=protocol,
                personas=personas,
                days=days,
                seed=seed,
                ensemble=ensemble,
                n_boot=n_boot,
                workers=workers,
                out=out,
                exposure=with_doors(ExposureConfig(), exposure, page_share),
            )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(
        title=f"validity: {len(data['table'])} arms, {data['dataset']}, {data['protocol']}, "
        f"{data['personas']} personas × {data['days']} days, ensemble {data['ensemble']}"
    )
    columns = (
        "arm",
        "family",
        "hit_rate",
        "recall",
        "ndcg",
        "ctr",
        "clicks_per_persona",
        "ratings_per_persona",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("arm", "family") else "right")
    for row in sorted(data["table"], key=lambda r: -(r["ndcg"] or 0.0)):
        table.add_row(*(fmt(row[c]) for c in columns))
    console.print(table)
    for subset in ("all_arms", "close_arms"):
        s = data.get(subset)
        if s is None:
            continue
        share = s["disagreeing_significant"]
        console.print(
            f"[bold]{subset}[/] ({s['arms']}): CTR vs NDCG@10 Kendall τ {fmt(s['kendall_tau'])} "
            f"[{fmt(s['kendall_tau_ci'][0])}, {fmt(s['kendall_tau_ci'][1])}], Spearman ρ "
            f"{fmt(s['spearman_rho'])} [{fmt(s['spearman_rho_ci'][0])}, "
            f"{fmt(s['spearman_rho_ci'][1])}]; {s['significant_calls']} of {s['pairs']} pairs "
            f"called significant, {'–' if share is None else f'{share:.0%}'} of them against "
            "the offline order"
        )


@app.command("social")
def social_command(
    dataset: Annotated[
        str, typer.Option(help="the Last.fm 2K name (under SIMFOLK_DATA) or folder")
    ] = "hetrec2011-lastfm-2k",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """Does the homophily graph look like a real friendship graph (Last.fm 2K)?"""
    from analysis.bootstrap import json_safe
    from personas.datasets import DatasetError
    from simulator.experiments.social import bench_social

    try:
        with working("bench social"):
            data = bench_social(dataset, seed=seed)
    except DatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dataset") from None
    if as_json:
        typer.echo(json.dumps(json_safe(data), indent=2))
        return
    fitted = data["fitted"]
    table = Table(
        title=f"social graph: {data['users']} users of {data['dataset']}; built with homophily "
        f"{fitted['homophily']:g}, sociability {fitted['sociability']:g}, "
        f"{fitted['friends']:.1f} friends on average"
    )
    for column in ("measure", "real", "built", "no homophily"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        ("mean degree", "mean_degree"),
        ("degree sd / mean", "degree_cv"),
        ("max degree", "max_degree"),
        ("clustering", "clustering"),
        ("transitivity", "transitivity"),
        ("degree assortativity", "assortativity"),
        ("degree KS vs real", "degree_ks_vs_real"),
        ("edges that are real", "edges_also_real"),
    )
    graphs = (data["real"], data["built"], data["no_homophily"])
    for label, key in rows:
        table.add_row(label, *(fmt(g[key]) for g in graphs))
    for half in ("fit_half", "check_half"):
        for part in ("friends", "strangers", "lift"):
            table.add_row(
                f"overlap {half.replace('_', ' ')}: {part}",
                *(fmt(g[f"overlap_{half}"][part]) for g in graphs),
            )
    console.print(table)


@app.command("scale")
def scale_command(
    personas: Annotated[
        list[int] | None, typer.Option(help="population sizes (repeat the option)")
    ] = None,
    days: Annotated[int, typer.Option(help="simulated days")] = 7,
    engine: Annotated[
        list[str] | None, typer.Option(help="agents and/or columnar (repeat the option)")
    ] = None,
    dataset: Annotated[str, typer.Option(help="a dataset name or path")] = "ml-100k",
    target: Annotated[str, typer.Option(help="a registered target")] = "itemknn",
    seed: Annotated[int, typer.Option(help="root seed")] = 0,
    agents_max: Annotated[
        int, typer.Option(help="the largest population the per-agent engine is run for")
    ] = 10_000,
    shards: Annotated[
        int, typer.Option(min=1, help="also run the columnar engine in this many Ray shards")
    ] = 1,
    as_json: AsJson = False,
) -> None:
    """Wall, persona-weeks/s, events/s, peak RSS and trace bytes per size and engine."""
    from simulator.experiments.scale import bench_scale

    engines = engine or ["agents", "columnar"]
    bad = sorted(set(engines) - {"agents", "columnar"})
    if bad:
        raise typer.BadParameter(f"{bad[0]!r}: choose agents or columnar", param_hint="--engine")
    with working("bench scale"):
        data = bench_scale(
            sizes=personas or [1_000, 10_000],
            days=days,
            engines=engines,
            dataset=dataset,
            target=target,
            seed=seed,
            agents_max=agents_max,
            shards=shards,
            on_run=lambda run: typer.echo(json.dumps(run), err=True),
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for run in data["runs"]:
        console.print(
            f"{run['personas']:>9} x {run['days']}d {run['engine']:<8} x{run['shards']:<3} "
            f"{run['run_seconds']:8.1f} s  {run['persona_weeks_per_second']:9.0f} persona-weeks/s  "
            f"{run['events_per_second']:9.0f} events/s  {run['peak_rss_mb']:7.0f} MB  "
            f"{run['trace_bytes'] / 1e6:8.1f} MB trace"
        )
    for size, rows in data["engines_alike"].items():
        ratios = ", ".join(f"{r['metric']} {fmt(r.get('ratio'))}" for r in rows)
        console.print(f"{size}: columnar vs agents (ratio to the split-half floor): {ratios}")
