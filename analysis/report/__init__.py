"""One self-contained HTML report of a run or an A/B run, for every domain.

The report leads with the decision: for an A/B run a verdict line per arm
(its effect on the main metric with the CI, the guardrails), a forest plot of
every paired difference and the smallest effect this population could see;
then warnings where the simulated population is far from real people; then
the plots, the human-vs-simulated tables, and the provenance last. It works
offline: plotly's JavaScript is embedded once and nothing is fetched. The same
run directory always gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from analysis.frames import load_events
from analysis.numbers import fmt
from analysis.report.arms import CLOSE_RATIO, FAR_RATIO, Arm, far_metrics, human, listing
from analysis.report.arms import overview as _overview
from analysis.report.arms import provenance as _provenance
from analysis.report.decision import ab_tables, analyse_ab, forest, verdicts
from analysis.report.figures import figures, plot_html
from personas.atomic import temporary_path, write_text_atomically
from simulator.core.manifest import read_manifest

AB_FILE = "ab.json"
REPORT_FILE = "report.html"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda value, digits=4: fmt(value, digits, significant=True)
    return env


class ReportIncomplete(ValueError):
    """The report was written, but some of its sections could not be filled; says which."""


def _render(
    run_dir: Path, ab_result: dict[str, Any] | None, skip: set[Path]
) -> tuple[str, list[str]]:
    ab_path = run_dir / AB_FILE
    ab_record: dict[str, Any] | None = None
    if ab_path.is_file():
        try:
            ab_record = json.loads(ab_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ab_path}: not valid JSON ({exc.msg})") from exc
    if ab_record is not None:
        arms = [
            Arm(name, spec["target"], run_dir / spec["dir"], read_manifest(run_dir / spec["dir"]))
            for name, spec in ab_record["arms"].items()
        ]
        config = ab_record.get("config") or {}
        stats = analyse_ab(run_dir) if ab_result is None else ab_result
    else:
        manifest = read_manifest(run_dir)
        models = manifest.get("models") or {}
        target = str(
            manifest.get("target") or models.get("chatbot") or models.get("engine") or run_dir.name
        )
        arms = [Arm(target, target, run_dir, manifest)]
        config = manifest.get("config") or {}
        stats = None

    events: dict[str, pl.DataFrame] = {}
    trace_errors: dict[str, str] = {}
    for arm in arms:
        try:
            events[arm.name] = load_events(arm.run_dir)
        except ValueError as exc:  # a TraceError: the arm has no readable trace
            trace_errors[arm.name] = str(exc)
    plots = [plot_html(fig, f"plot-{i}") for i, fig in enumerate(figures(arms, events), start=1)]
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
            "files": listing(run_dir, skip),
            "stats_error": stats.get("error"),
            "stats": None if "error" in stats else ab_tables(stats),
            "verdicts": [] if "error" in stats else verdicts(stats),
            "forest": None if "error" in stats else plot_html(forest(stats), "forest"),
        }
    provenance = {arm.name: _provenance(arm) for arm in arms}
    humans = {arm.name: human(arm) for arm in arms}
    far = {name: far_metrics(table["rows"]) for name, table in humans.items()}
    context = {
        "title": str(config.get("scenario") or run_dir.name),
        "overview": _overview(config, arms),
        "ab": ab_view,
        "arms": [
            {
                "name": arm.name,
                "provenance": provenance[arm.name],
                "files": listing(arm.run_dir, skip),
                "human": humans[arm.name],
                "far": far[arm.name],
                "trace_error": trace_errors.get(arm.name),
            }
            for arm in arms
        ],
        "provenance_keys": list(dict.fromkeys(k for rows in provenance.values() for k in rows)),
        "plots": plots,
        "close_ratio": CLOSE_RATIO,
        "far_ratio": FAR_RATIO,
        "plotly_js": Markup(get_plotlyjs()),
    }
    problems = [f"{name}: trace: {error}" for name, error in trace_errors.items()]
    problems += [
        f"{name}: human-vs-simulated table: {table['error']}"
        for name, table in humans.items()
        if table["damaged"]
    ]
    if ab_view is not None and ab_view["stats_error"]:
        problems.append(f"A/B statistics: {ab_view['stats_error']}")
    return _environment().get_template("report.html.j2").render(**context), problems


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    ab_result: dict[str, Any] | None = None,
    strict: bool = False,
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

        strict: Raise ReportIncomplete, after writing, when a section shows an
            error in place of its content (the command line exits non-zero then).

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If `run_dir` holds neither a run nor an A/B run.
        ValueError: If a manifest or ``ab.json`` does not parse.
        ReportIncomplete: With `strict`, naming each section that holds an error.
    """
    run_dir = Path(run_dir)
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    # The report must not list itself, or a second run would differ from the first.
    skip = {path.resolve(), temporary_path(path).resolve()}
    html, problems = _render(run_dir, ab_result, skip)
    written = write_text_atomically(path, html)
    if strict and problems:
        raise ReportIncomplete(
            f"{written}: written, but {len(problems)} section(s) show an error instead: "
            + "; ".join(problems)
        )
    return written


__all__ = ["CLOSE_RATIO", "REPORT_FILE", "ReportIncomplete", "write_report"]
