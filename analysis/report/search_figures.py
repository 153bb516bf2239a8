"""The report's plots of a search run: click rate by rank, queries, reformulations, endings."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from analysis.metrics import ctr_by_position
from analysis.report.arms import Arm
from analysis.report.figures import colours, count, grouped_bars, series, style
from simulator.trace.schema import EventKind


def search_figures(arms: list[Arm], events: dict[str, pl.DataFrame]) -> list[go.Figure]:
    """The plots of search arms, one trace per arm."""
    color = colours(arms)
    shown = [arm for arm in arms if arm.name in events]
    rate = go.Figure()
    for arm in shown:
        frame = ctr_by_position(events[arm.name])
        rate.add_trace(
            go.Scatter(
                x=(frame["position"] + 1).to_list(),
                y=frame["ctr"].to_list(),
                mode="lines+markers",
                name=arm.name,
                line={"color": color[arm.name]},
            )
        )
    style(rate, "Click rate by rank", "rank on the page (1 = top)", "clicks per result shown")

    def of(kind: EventKind, arm: Arm) -> pl.DataFrame:
        return events[arm.name].filter(pl.col("event") == kind.value)

    queries = {
        arm.name: count(
            of(EventKind.QUERY, arm).group_by("persona_id", "session").agg(pl.len().alias("q")),
            "q",
        )
        for arm in shown
    }
    kinds = {arm.name: count(of(EventKind.QUERY, arm), "reason") for arm in shown}
    ends = {arm.name: count(of(EventKind.SESSION_END, arm), "reason") for arm in shown}
    return [
        rate,
        grouped_bars(shown, "Queries per session", "queries", "sessions", queries, "q"),
        grouped_bars(
            shown, "How each query came", "first or its change", "queries", kinds, "reason"
        ),
        grouped_bars(shown, "Why sessions ended", "end reason", "sessions", ends, "reason"),
        series(
            arms,
            color,
            ("sessions", "queries", "clicks"),
            clock="t",
            title="Activity per checkpoint interval (each interval's own counts)",
            axis="simulated minutes",
            scale=60.0,
        ),
    ]
