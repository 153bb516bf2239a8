"""The report's plots: one trace per arm, one colour per arm throughout.

A browsing run shows CTR by position, session length, ratings, item
popularity and its daily activity; a chat run shows user turns, the
persona's satisfaction, why dialogues ended and its activity over time; a
search run (`search_figures`) its click rate by rank, queries per session,
reformulations, why sessions ended and its activity. The
time series are counters that only grow; the plots show each interval's own
values (the differences), and say so.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from markupsafe import Markup
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analysis.frames import load_timeseries
from analysis.metrics import ctr_by_position
from analysis.report.arms import Arm
from simulator.trace.schema import EventKind

_PALETTE = qualitative.Plotly
_PLOT_HEIGHT = "380px"
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def colours(arms: list[Arm]) -> dict[str, str]:
    """One colour per arm, in arm order."""
    return {arm.name: _PALETTE[i % len(_PALETTE)] for i, arm in enumerate(arms)}


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


def style(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    """The report's look: a title, axis names, white background, arms in the legend."""
    fig.update_layout(
        title={"text": title},
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"title": {"text": "arm"}},
    )
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    return fig


def figures(arms: list[Arm], events: dict[str, pl.DataFrame]) -> list[go.Figure]:
    """The report's plots, as the arms' domain draws them."""
    if arms and all(arm.kind == "chat" for arm in arms):
        return _chat_figures(arms, events)
    if arms and all(arm.kind == "search" for arm in arms):
        from analysis.report.search_figures import search_figures

        return search_figures(arms, events)
    return _browsing_figures(arms, events)


def _browsing_figures(arms: list[Arm], events: dict[str, pl.DataFrame]) -> list[go.Figure]:
    color = colours(arms)
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
    style(ctr, "Click-through rate by position", "position on the page (1 = top)", "CTR")

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
    style(sessions, "Session length", "minutes (simulated)", "sessions")

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
    style(ratings, "Ratings given", "rating", "ratings")

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
    style(popularity, "Item popularity", "item rank by clicks", "clicks (log)")
    popularity.update_yaxes(type="log")

    return [ctr, sessions, ratings, popularity, _daily(arms, color)]


def _daily(arms: list[Arm], color: dict[str, str]) -> go.Figure:
    """Sessions, clicks and ratings each simulated day (the day's own, not running totals)."""
    return series(
        arms,
        color,
        ("sessions", "clicks", "ratings"),
        clock="day",
        title="Activity per simulated day (each day's own counts, not cumulative)",
        axis="simulated day",
    )


def series(
    arms: list[Arm],
    color: dict[str, str],
    columns: tuple[str, ...],
    *,
    clock: str,
    title: str,
    axis: str,
    scale: float = 1.0,
) -> go.Figure:
    """The mesa time series' counters, differenced: what happened in each interval."""
    fig = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, subplot_titles=columns)
    for arm in arms:
        sampled = load_timeseries(arm.run_dir)
        if sampled is None:
            continue
        frame = sampled.sort(clock)
        for row, column in enumerate(columns, start=1):
            # The counters only grow; each interval's own count is the difference.
            own = frame[column].diff().fill_null(frame[column].first())
            fig.add_trace(
                go.Scatter(
                    x=(frame[clock] / scale).to_list(),
                    y=own.to_list(),
                    mode="lines+markers",
                    name=arm.name,
                    legendgroup=arm.name,
                    showlegend=row == 1,
                    line={"color": color[arm.name]},
                ),
                row=row,
                col=1,
            )
    style(fig, title, "", "")
    fig.update_xaxes(title_text=axis, row=len(columns), col=1)
    fig.update_layout(height=620)
    return fig


def grouped_bars(
    arms: list[Arm], title: str, x: str, y: str, counts: dict[str, pl.DataFrame], key: str
) -> go.Figure:
    """One bar per value of `key` (column `n` its count), grouped by arm, in arm colours."""
    color = colours(arms)
    fig = go.Figure()
    for arm in arms:
        if arm.name not in counts:
            continue
        frame = counts[arm.name]
        fig.add_trace(
            go.Bar(
                x=frame[key].to_list(),
                y=frame["n"].to_list(),
                name=arm.name,
                marker={"color": color[arm.name]},
            )
        )
    fig.update_layout(barmode="group")
    return style(fig, title, x, y)


def count(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """How often each value of `key` occurs (column `n`), sorted by the value."""
    return frame.group_by(key).agg(pl.len().alias("n")).sort(key)


def _chat_figures(arms: list[Arm], events: dict[str, pl.DataFrame]) -> list[go.Figure]:
    color = colours(arms)
    shown = [arm for arm in arms if arm.name in events]

    def bars(title: str, x: str, y: str, counts: dict[str, pl.DataFrame], key: str) -> go.Figure:
        return grouped_bars(shown, title, x, y, counts, key)

    ends = {
        arm.name: count(
            events[arm.name].filter(pl.col("event") == EventKind.DIALOGUE_END.value), "reason"
        )
        for arm in shown
    }
    turns = {
        arm.name: count(
            events[arm.name]
            .filter((pl.col("event") == EventKind.MESSAGE.value) & (pl.col("role") == "user"))
            .group_by("persona_id", "session")
            .agg(pl.len().alias("turns")),
            "turns",
        )
        for arm in shown
    }
    satisfaction = {
        arm.name: count(
            events[arm.name]
            .filter(pl.col("event") == EventKind.ASSESSMENT.value)
            .drop_nulls("rating"),
            "rating",
        )
        for arm in shown
    }
    return [
        bars("Why dialogues ended", "stop reason", "dialogues", ends, "reason"),
        bars("User messages per dialogue", "user messages", "dialogues", turns, "turns"),
        bars(
            "Satisfaction after each reply (1-5)",
            "satisfaction",
            "assessments",
            satisfaction,
            "rating",
        ),
        series(
            arms,
            color,
            ("dialogues", "ended", "messages"),
            clock="t",
            title="Activity per checkpoint interval (each interval's own counts)",
            axis="simulated minutes",
            scale=60.0,
        ),
    ]


def plot_html(fig: go.Figure, div_id: str) -> Markup:
    """A figure as an HTML fragment that uses the report's one embedded plotly."""
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
