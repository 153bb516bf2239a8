"""The A/B statistics arranged for the report: tables, a verdict per arm, a forest plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ab_tables(ab: dict[str, Any]) -> dict[str, Any]:
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
    better = ab.get("better") or {}
    for row in ab.get("differences", []):
        diff = row.get("diff")
        diff = None if diff is None else diff * better.get(row["metric"], 1)  # + is better
        significant = bool(row.get("significant"))
        violated = bool(row.get("violated"))
        if violated:
            css, verdict = "violated", "guardrail violated"
        elif significant and diff is not None and diff > 0:
            css, verdict = "up", "better, significant"
        elif significant and diff is not None and diff < 0:
            css, verdict = "down", "worse, significant"
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


def analyse_ab(run_dir: Path) -> dict[str, Any]:
    """The A/B statistics of `run_dir`, or an error to show in their place."""
    try:
        from analysis.ab import analyse_ab_dir  # lazily: a single run needs none of it

        result: dict[str, Any] = analyse_ab_dir(run_dir).as_dict()
    # An A/B report without statistics still shows the arms' plots and provenance.
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return result


PRIMARY = "ctr"  # the metric a browsing A/B test is decided on; the rest inform
_Z_ALPHA, _Z_POWER = 1.959964, 0.841621  # two-sided 5 %, power 80 %


def _relative(row: dict[str, Any], key: str) -> float | None:
    control = row.get("control_value")
    value = row.get(key)
    if not control or value is None:
        return None
    return float(value) / float(control)


def verdicts(stats: dict[str, Any], primary: str | None = None) -> list[dict[str, Any]]:
    """One line per arm against the control: the effect on `primary`, its CI, the guardrails.

    Each also carries the minimum detectable effect on `primary` at this population
    size: the difference a test of this width finds 80 % of the time at a
    two-sided 5 % level, ``(z_0.975 + z_0.8) · SE`` with the SE read off the CI
    (before Holm's correction, so the corrected test needs a little more).
    """
    primary = primary or stats.get("primary") or PRIMARY
    sign = (stats.get("better") or {}).get(primary, 1)
    lines = []
    rows = stats.get("differences", [])
    for arm in [a for a in stats.get("arms", []) if a != stats.get("control")]:
        mine = [r for r in rows if r["arm"] == arm]
        main = next((r for r in mine if r["metric"] == primary), None)
        if main is None:
            continue
        diff, low, high = main.get("diff"), main.get("ci_low"), main.get("ci_high")
        z_level = 2 * _Z_ALPHA
        se = (high - low) / z_level if low is not None and high is not None else None
        mde = (_Z_ALPHA + _Z_POWER) * se if se is not None else None
        if main.get("significant") and diff is not None:
            call = "better than" if diff * sign > 0 else "worse than"
        else:
            call = "not distinguishable from"
        broken = [r["metric"] for r in mine if r.get("violated")]
        guarded = [r["metric"] for r in mine if r.get("guardrail")]
        lines.append(
            {
                "arm": arm,
                "control": stats.get("control"),
                "metric": primary,
                "call": call,
                "diff": diff,
                "rel_diff": main.get("rel_diff"),
                "ci_low": low,
                "ci_high": high,
                "p_adjusted": main.get("p_adjusted"),
                "mde": mde,
                "mde_rel": _relative({**main, "mde": mde}, "mde"),
                "guardrails": guarded,
                "broken": broken,
                "css": "down"
                if broken or call == "worse than"
                else ("up" if diff and call == "better than" else ""),
            }
        )
    return lines


def forest(stats: dict[str, Any]) -> Any:
    """Every paired difference as a share of the control's value, with its CI."""
    import plotly.graph_objects as go

    rows = [
        r
        for r in stats.get("differences", [])
        if _relative(r, "diff") is not None and r.get("ci_low") is not None
    ]
    labels = [f"{r['arm']} · {r['metric']}" for r in rows]
    centre = [100 * (_relative(r, "diff") or 0.0) for r in rows]
    low = [100 * (_relative(r, "ci_low") or 0.0) for r in rows]
    high = [100 * (_relative(r, "ci_high") or 0.0) for r in rows]
    colour = ["#9b1c1c" if r.get("violated") else "#1f2933" for r in rows]
    fig = go.Figure(
        go.Scatter(
            x=centre,
            y=labels,
            mode="markers",
            marker={"color": colour, "size": 8},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - c for h, c in zip(high, centre, strict=True)],
                "arrayminus": [c - lo for c, lo in zip(centre, low, strict=True)],
            },
            showlegend=False,
        )
    )
    fig.add_vline(x=0.0, line={"color": "#9aa5b1", "dash": "dash"})
    fig.update_layout(
        title={"text": f"Paired differences against {stats.get('control')}, % of its value"},
        template="plotly_white",
        height=max(320, 26 * len(rows) + 120),
        margin={"l": 220, "r": 20, "t": 60, "b": 50},
    )
    fig.update_xaxes(title_text="difference (% of the control's value), with its CI")
    fig.update_yaxes(autorange="reversed")
    return fig
