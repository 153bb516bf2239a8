"""Tables and lines the commands print: comparisons, A/B results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from analysis.numbers import fmt
from simulator.cli.app import console

if TYPE_CHECKING:
    from analysis.compare import ComparisonRow
    from analysis.dialogue_compare import DialogueComparison
    from analysis.run_compare import RunComparison

_SHORT = {"wasserstein": "W1", "ks": "KS", "jensen_shannon": "JS", "abs_diff": "|Δ|"}


def print_rows(rows: Sequence[ComparisonRow], title: str) -> None:
    """A comparison table: metric, distance, floor, ratio, and each side's summary."""
    table = Table(title=title)
    for column in ("metric", "by", "distance", "floor", "ratio", "sim", "real"):
        left = column in ("metric", "by")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        ratio = fmt(row.ratio)
        style = "green" if math.isfinite(row.ratio) and row.ratio <= 1.5 else None
        table.add_row(
            row.metric,
            _SHORT.get(row.distance_name, row.distance_name),
            fmt(row.distance),
            fmt(row.floor),
            f"[{style}]{ratio}[/]" if style else ratio,
            fmt(row.simulated),
            fmt(row.real),
        )
    console.print(table)


def print_comparison(comparison: RunComparison, title: str) -> None:
    """The comparison table, then the simulation-only figures."""
    print_rows(comparison.rows, title)
    sim = comparison.simulated
    console.print(
        f"simulation only: {sim['sessions']} sessions, CTR {fmt(sim['ctr'])}, "
        f"examined {fmt(sim['examined_share'])} of impressions, "
        f"{fmt(sim['pages_per_session'])} pages per session; CTR by position: "
        + " ".join(f"{p['position']}:{p['ctr']:.2f}" for p in sim["ctr_by_position"])
    )
    if "friends" in sim:
        f = sim["friends"]
        console.print(
            f"friends (the run's social graph) share {fmt(f['sim']['lift'])}× what strangers "
            f"share in the simulation, {fmt(f['real']['lift'])}× in the real held-out window"
        )
    console.print(
        "floor: distance between two random halves of the real users; distance: sim half "
        "vs the other real half (same sample sizes); ratio ≤ 1.5 is green. sim/real: means "
        "(genre_share: entropy in bits)."
    )


def print_dialogue_comparison(comparison: DialogueComparison, title: str) -> None:
    """The dialogue comparison table, then the stop reasons (the simulation's own)."""
    print_rows(comparison.rows, title)
    reasons = ", ".join(f"{k} {v:.0%}" for k, v in sorted(comparison.stop_reasons.items()))
    console.print(
        f"{comparison.simulated_dialogues} simulated dialogues vs {comparison.real_dialogues} "
        f"real ({comparison.against}). Stop reasons (simulated): {reasons or '–'}.\n"
        "floor: distance between random halves of the real dialogues, at the simulated "
        "sample size; ratio ≤ 1.5 is green. sim/real: means (user_speaks_last: a share)."
    )


def print_ab(run_dir: Path) -> None:
    """Per-arm metrics with CIs, and each arm against the control."""
    from analysis.ab import analyse_ab_dir

    result = analyse_ab_dir(run_dir)
    brains = f", over an ensemble of {result.ensemble} brains" if result.ensemble > 1 else ""
    table = Table(title=f"arms ({result.personas} personas each; 95% bootstrap CIs{brains})")
    table.add_column("metric")
    for name in result.arms:
        table.add_column(name + (" (control)" if name == result.control else ""), justify="right")
    cells: dict[str, dict[str, str]] = {}
    for m in result.metrics:
        cells.setdefault(m.metric, {})[m.arm] = f"{m.value:.4g} [{m.ci_low:.4g}, {m.ci_high:.4g}]"
    for metric, row in cells.items():
        table.add_row(metric, *(row.get(a, "–") for a in result.arms))
    console.print(table)
    diffs = Table(title=f"against {result.control}: paired by persona, Holm-adjusted p")
    for column in ("arm", "metric", "diff", "95% CI", "p", "p (Holm)", ""):
        diffs.add_column(column, justify="left" if column in ("arm", "metric", "") else "right")
    for d in result.differences:
        flag = "guardrail broken" if d.violated else ("significant" if d.significant else "")
        worse = d.diff * result.better.get(d.metric, 1) < 0
        style = "red" if d.violated or (d.significant and worse) else "green"
        diffs.add_row(
            d.arm,
            d.metric,
            f"{d.diff:+.4g}",
            f"[{d.ci_low:+.4g}, {d.ci_high:+.4g}]",
            f"{d.p_value:.3g}",
            f"{d.p_adjusted:.3g}",
            f"[{style}]{flag}[/]" if flag else "",
        )
    console.print(diffs)
