"""One self-contained HTML report of a run or an A/B run.

The report holds the run's provenance, the A/B statistics (A/B runs only),
plots of behaviour with one trace per arm, and the human-vs-simulated table of
each arm. It works offline: plotly's JavaScript is embedded once and nothing
is fetched. The same run directory always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go
import polars as pl
from markupsafe import Markup
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from analysis.frames import load_events
from analysis.metrics import ctr_by_position
from analysis.numbers import fmt
from analysis.run_compare import compare_run
from personas.atomic import temporary_path, write_text_atomically
from simulator.core.manifest import read_manifest
from simulator.trace.schema import EventKind

AB_FILE = "ab.json"
REPORT_FILE = "report.html"
CLOSE_RATIO = 1.5  # a simulated distance within 1.5x the human floor counts as close
_PALETTE = qualitative.Plotly
_PLOT_HEIGHT = "380px"
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class _Arm:
    """One run shown in the report: an A/B arm, or the single run itself."""

    name: str
    target: str
    run_dir: Path
    manifest: dict[str, Any]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda value, digits=4: fmt(value, digits, significant=True)
    return env


def _listing(root: Path, skip: set[Path]) -> list[dict[str, str]]:
    """The files and folders directly under `root`, with sizes (folders summed)."""
    rows: list[dict[str, str]] = []
    for child in sorted(root.iterdir(), key=lambda p: p.name):
        if child.resolve() in skip:
            continue
        if child.is_dir():
            files = [f for f in child.rglob("*") if f.is_file() and f.resolve() not in skip]
            size = sum(f.stat().st_size for f in files)
            rows.append(
                {"name": child.name + "/", "size": _size(size), "note": f"{len(files)} files"}
            )
        elif child.is_file():
            rows.append({"name": child.name, "size": _size(child.stat().st_size), "note": ""})
    return rows


def _size(n: int) -> str:
    """A byte count as B, kB, MB or GB (powers of 1000)."""
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _provenance(arm: _Arm) -> dict[str, str]:
    """The manifest fields that say what the run was, as display strings."""
    m = arm.manifest
    dataset = m.get("dataset") or {}
    personas = m.get("personas") or {}
    rows = {
        "target": m.get("target", arm.target),
        "status": m.get("status"),
        "days done": m.get("days_done"),
        "events": m.get("events"),
        "brain": m.get("brain"),
        "personas": personas.get("count"),
        "dataset": dataset.get("name"),
        "dataset sha256": (dataset.get("sha256") or "")[:12] or None,
        "split": (m.get("split") or {}).get("rule"),
        "taste space": m.get("taste_space"),
        "root seed": m.get("root_seed"),
        "trace schema": m.get("trace_schema_version"),
        "git revision": m.get("git_revision"),
        "python": (m.get("environment") or {}).get("python"),
    }
    for package, version in sorted((m.get("versions") or {}).items()):
        rows[package] = version
    return {key: fmt(value, 4, significant=True) for key, value in rows.items()}


def _overview(config: dict[str, Any], arms: list[_Arm]) -> dict[str, str]:
    rows = {
        "scenario": config.get("scenario"),
        "dataset": config.get("dataset"),
        "personas": config.get("personas"),
        "days": config.get("days"),
        "seed": config.get("seed"),
        "brain": config.get("brain"),
        "target" if len(arms) == 1 else "targets": ", ".join(a.target for a in arms),
    }
    return {key: fmt(value, 4, significant=True) for key, value in rows.items()}


def _session_minutes(events: pl.DataFrame) -> list[float]:
    """Length of each finished session, in simulated minutes, sorted."""
    keys = ["persona_id", "session"]

    def times(kind: EventKind, name: str) -> pl.DataFrame:
        return (
            events.filter(pl.col("event") == kind.value)
            .group_by(keys)
            .agg(pl.col("t").min().alias(name))
        )

    spans = times(EventKind.SESSION_START, "start").join(
        times(EventKind.SESSION_END, "end"), on=keys, how="inner"
    )
    minutes = ((spans["end"] - spans["start"]) / 60.0).sort()
    return [float(x) for x in minutes.to_list()]


def _rating_counts(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.filter(pl.col("event") == EventKind.RATE.value)
        .select(pl.col("rating").cast(pl.Float64))
        .drop_nulls()
        .group_by("rating")
        .agg(pl.len().alias("n"))
        .sort("rating")
    )


def _item_clicks(events: pl.DataFrame) -> list[int]:
    """Clicks per clicked item, most clicked first."""
    counts = (
        events.filter(pl.col("event") == EventKind.CLICK.value)
        .group_by("item_id")
        .agg(pl.len().alias("n"))
        # Ties broken by item id, so the curve's bytes never depend on group order.
        .sort(["n", "item_id"], descending=[True, False])
    )
    return [int(n) for n in counts["n"].to_list()]


def _style(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"title": {"text": "arm"}},
    )
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    return fig


def _figures(arms: list[_Arm], events: dict[str, pl.DataFrame]) -> list[go.Figure]:
    """The report's plots; each arm is one trace, in one colour throughout."""
    color = {arm.name: _PALETTE[i % len(_PALETTE)] for i, arm in enumerate(arms)}
    shown = [arm for arm in arms if arm.name in events]

    ctr = go.Figure()
    for arm in shown:
        frame = ctr_by_position(events[arm.name])
        ctr.add_trace(
            go.Scatter(
                x=(frame["position"] + 1).to_list(),
                y=frame["ctr"].to_list(),
                mode="lines+markers",
                name=arm.name,
                line={"color": color[arm.name]},
            )
        )
    _style(ctr, "Click-through rate by position", "position on the page (1 = top)", "CTR")

    sessions = go.Figure()
    minutes = {arm.name: _session_minutes(events[arm.name]) for arm in shown}
    longest = max((m[-1] for m in minutes.values() if m), default=1.0)
    # Shared bins: overlaid histograms with bins of their own would not compare.
    bins = {"start": 0.0, "end": longest, "size": max(longest / 30, 1e-9)}
    for arm in shown:
        sessions.add_trace(
            go.Histogram(
                x=minutes[arm.name],
                name=arm.name,
                marker={"color": color[arm.name]},
                opacity=0.6,
                xbins=bins,
            )
        )
    sessions.update_layout(barmode="overlay")
    _style(sessions, "Session length", "minutes (simulated)", "sessions")

    ratings = go.Figure()
    for arm in shown:
        frame = _rating_counts(events[arm.name])
        ratings.add_trace(
            go.Bar(
                x=frame["rating"].to_list(),
                y=frame["n"].to_list(),
                name=arm.name,
                marker={"color": color[arm.name]},
            )
        )
    ratings.update_layout(barmode="group")
    _style(ratings, "Ratings given", "rating", "ratings")

    popularity = go.Figure()
    for arm in shown:
        clicks = _item_clicks(events[arm.name])
        popularity.add_trace(
            go.Scatter(
                x=list(range(1, len(clicks) + 1)),
                y=clicks,
                mode="lines",
                name=arm.name,
                line={"color": color[arm.name]},
            )
        )
    _style(popularity, "Item popularity", "item rank by clicks", "clicks (log)")
    popularity.update_yaxes(type="log")

    return [ctr, sessions, ratings, popularity, _daily(arms, color)]


def _daily(arms: list[_Arm], color: dict[str, str]) -> go.Figure:
    """Sessions, clicks and ratings per simulated day, from the mesa time series."""
    series = ("sessions", "clicks", "ratings")
    fig = make_subplots(rows=len(series), cols=1, shared_xaxes=True, subplot_titles=series)
    for arm in arms:
        path = arm.run_dir / "timeseries.parquet"
        if not path.is_file():
            continue
        frame = pl.read_parquet(path).sort("day")
        for row, column in enumerate(series, start=1):
            fig.add_trace(
                go.Scatter(
                    x=frame["day"].to_list(),
                    y=frame[column].to_list(),
                    mode="lines+markers",
                    name=arm.name,
                    legendgroup=arm.name,
                    showlegend=row == 1,
                    line={"color": color[arm.name]},
                ),
                row=row,
                col=1,
            )
    _style(fig, "Daily activity", "", "")
    fig.update_xaxes(title_text="simulated day", row=len(series), col=1, dtick=1)
    fig.update_layout(height=620)
    return fig


def _plot_html(fig: go.Figure, div_id: str) -> Markup:
    height = f"{fig.layout.height}px" if fig.layout.height else _PLOT_HEIGHT
    html = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=div_id,
        config=_PLOT_CONFIG,
        default_height=height,
    )
    return Markup(html)  # plotly escapes the data it embeds ('<' as \u003c)


def _human(arm: _Arm) -> dict[str, Any]:
    """The arm's human-vs-simulated table, or why there is none."""
    try:
        comparison = compare_run(arm.run_dir)
    # The report is still worth having without this table; say why it is missing.
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "rows": []}
    rows = [
        {
            "metric": r.metric,
            "distance_name": r.distance_name,
            "distance": r.distance,
            "floor": r.floor,
            "ratio": r.ratio,
            "simulated": r.simulated,
            "real": r.real,
            "close": not math.isnan(r.ratio) and r.ratio <= CLOSE_RATIO,
        }
        for r in comparison.rows
    ]
    return {"error": None, "rows": rows}


def _ab_tables(ab: dict[str, Any]) -> dict[str, Any]:
    """The A/B statistics arranged for display: metrics by arm, and differences."""
    arms: list[str] = list(ab.get("arms", []))
    metrics: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in ab.get("metrics", []):
        if row["metric"] not in metrics:
            metrics.append(row["metric"])
        if row["arm"] not in arms:
            arms.append(row["arm"])
        cells[(row["metric"], row["arm"])] = row
    table = [
        {"metric": metric, "cells": [cells.get((metric, arm)) for arm in arms]}
        for metric in metrics
    ]
    differences = []
    for row in ab.get("differences", []):
        diff = row.get("diff")
        significant = bool(row.get("significant"))
        violated = bool(row.get("violated"))
        if violated:
            css, verdict = "violated", "guardrail violated"
        elif significant and diff is not None and diff > 0:
            css, verdict = "up", "↑ significant"
        elif significant and diff is not None and diff < 0:
            css, verdict = "down", "↓ significant"
        else:
            css, verdict = "", "–"
        differences.append({**row, "css": css, "verdict": verdict})
    alpha = ab.get("alpha")
    level = f"{(1 - alpha) * 100:g}%" if isinstance(alpha, int | float) else "–"
    return {
        "arms": arms,
        "control": ab.get("control"),
        "personas": ab.get("personas"),
        "alpha": alpha,
        "n_boot": ab.get("n_boot"),
        "ensemble": ab.get("ensemble") or 1,
        "level": level,
        "metrics": table,
        "differences": differences,
    }


def _analyse_ab(run_dir: Path) -> dict[str, Any]:
    """The A/B statistics of `run_dir`, or an error to show in their place."""
    try:
        from analysis.ab import analyse_ab_dir  # lazily: a single run needs none of it

        result: dict[str, Any] = analyse_ab_dir(run_dir).as_dict()
    # An A/B report without statistics still shows the arms' plots and provenance.
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return result


def _render(run_dir: Path, ab_result: dict[str, Any] | None, skip: set[Path]) -> str:
    ab_path = run_dir / AB_FILE
    ab_record: dict[str, Any] | None = None
    if ab_path.is_file():
        try:
            ab_record = json.loads(ab_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ab_path}: not valid JSON ({exc.msg})") from exc
    if ab_record is not None:
        arms = [
            _Arm(name, spec["target"], run_dir / spec["dir"], read_manifest(run_dir / spec["dir"]))
            for name, spec in ab_record["arms"].items()
        ]
        config = ab_record.get("config") or {}
        stats = _analyse_ab(run_dir) if ab_result is None else ab_result
    else:
        manifest = read_manifest(run_dir)
        arms = [_Arm(str(manifest.get("target")), str(manifest.get("target")), run_dir, manifest)]
        config = manifest.get("config") or {}
        stats = None

    events: dict[str, pl.DataFrame] = {}
    trace_errors: dict[str, str] = {}
    for arm in arms:
        try:
            events[arm.name] = load_events(arm.run_dir)
        except ValueError as exc:  # a TraceError: the arm has no readable trace
            trace_errors[arm.name] = str(exc)
    plots = [_plot_html(fig, f"plot-{i}") for i, fig in enumerate(_figures(arms, events), start=1)]
    ab_view = None
    if ab_record is not None:
        assert stats is not None
        ab_view = {
            "control": ab_record.get("control"),
            "crn": bool(ab_record.get("crn")),
            "status": ab_record.get("status"),
            "arms": [
                {"name": a.name, "target": a.target, "dir": ab_record["arms"][a.name]["dir"]}
                for a in arms
            ],
            "files": _listing(run_dir, skip),
            "stats_error": stats.get("error"),
            "stats": None if "error" in stats else _ab_tables(stats),
        }
    provenance = {arm.name: _provenance(arm) for arm in arms}
    context = {
        "title": str(config.get("scenario") or run_dir.name),
        "overview": _overview(config, arms),
        "ab": ab_view,
        "arms": [
            {
                "name": arm.name,
                "provenance": provenance[arm.name],
                "files": _listing(arm.run_dir, skip),
                "human": _human(arm),
                "trace_error": trace_errors.get(arm.name),
            }
            for arm in arms
        ],
        "provenance_keys": list(dict.fromkeys(k for rows in provenance.values() for k in rows)),
        "plots": plots,
        "close_ratio": CLOSE_RATIO,
        "plotly_js": Markup(get_plotlyjs()),
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    ab_result: dict[str, Any] | None = None,
) -> Path:
    """Write the report of a run or an A/B run to one self-contained HTML file.

    The file loads nothing from outside itself, and the same run directory
    always gives the same bytes. It is written atomically.

    Args:
        run_dir: A run directory (with ``manifest.json``) or an A/B run
            directory (with ``ab.json`` and one run directory per arm).
        out: Where to write; ``RUN_DIR/report.html`` when None.
        ab_result: The A/B statistics in the shape of ``ABResult.as_dict()``;
            computed with :func:`analysis.ab.analyse_ab_dir` when None. Not
            used for a single run.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If `run_dir` holds neither a run nor an A/B run.
        ValueError: If a manifest or ``ab.json`` does not parse.
    """
    run_dir = Path(run_dir)
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    # The report must not list itself, or a second run would differ from the first.
    skip = {path.resolve(), temporary_path(path).resolve()}
    return write_text_atomically(path, _render(run_dir, ab_result, skip))


__all__ = ["CLOSE_RATIO", "REPORT_FILE", "write_report"]
