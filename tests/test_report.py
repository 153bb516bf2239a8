"""The HTML report: sections, offline, deterministic, and rendered by a real browser."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from analysis.report import write_report
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate

ARMS = {"popularity": "popularity", "itemknn": "itemknn"}
PLOTS = 5  # CTR by position, session length, ratings, item popularity, daily activity
AB_PLOTS = PLOTS + 1  # and the forest plot of the paired differences
# Any attribute, CSS url() or import that would make the browser fetch something.
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:@import\s)|(?:\bimport\s*\(?\s*["'](?:https?:)?//)""",
    re.IGNORECASE,
)


def _config(base: RunConfig, target: str) -> RunConfig:
    """The suite's small config, with this module's population and target."""
    update = {"scenario": "report-test", "personas": 30, "seed": 1, "calibrate": False}
    return base.model_copy(update={**update, "target": target})


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory, small_config: RunConfig) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "run"
    simulate(_config(small_config, "popularity"), run_dir)
    return run_dir


@pytest.fixture(scope="module")
def ab_run(tmp_path_factory: pytest.TempPathFactory, small_config: RunConfig) -> Path:
    """Two arms of the same config (the same streams: CRN) and an ab.json."""
    run_dir = tmp_path_factory.mktemp("report-ab") / "ab"
    for name, target in ARMS.items():
        simulate(_config(small_config, target), run_dir / "arms" / name)
    record = {
        "kind": "ab",
        "control": "popularity",
        "arms": {name: {"target": t, "dir": f"arms/{name}"} for name, t in ARMS.items()},
        "crn": True,
        "config": _config(small_config, "popularity").model_dump(mode="json"),
        "status": "complete",
    }
    (run_dir / "ab.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    return run_dir


def _difference(metric: str, diff: float, **flags: Any) -> dict[str, Any]:
    return {
        "arm": "itemknn",
        "control": "popularity",
        "metric": metric,
        "control_value": 1.0,
        "arm_value": 1.0 + diff,
        "diff": diff,
        "rel_diff": diff,
        "ci_low": diff - 0.05,
        "ci_high": diff + 0.05,
        "p_value": 0.001,
        "p_adjusted": 0.003,
        "significant": flags.get("significant", False),
        "guardrail": flags.get("guardrail", False),
        "violated": flags.get("violated", False),
    }


# The shape of analysis.ab.ABResult.as_dict(), with one row of each kind to highlight.
HAND_MADE_AB: dict[str, Any] = {
    "arms": ["popularity", "itemknn"],
    "control": "popularity",
    "personas": 30,
    "alpha": 0.05,
    "n_boot": 1000,
    "metrics": [
        {"arm": arm, "metric": metric, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1}
        for arm in ARMS
        for metric, v in (("ctr", 0.12), ("ratings_per_persona", 9.5), ("coverage", 0.02))
    ],
    "differences": [
        _difference("ctr", 0.2, significant=True),
        _difference("ratings_per_persona", -0.3, significant=True),
        _difference("coverage", -0.01, guardrail=True, violated=True, significant=True),
    ],
}


def _own_markup(html: str) -> str:
    """The report without the embedded plotly library (whose source names its own links)."""
    js = get_plotlyjs()
    assert html.count(js) == 1, "plotly's JavaScript must be embedded exactly once"
    return html.replace(js, "")


def _check_offline(html: str) -> None:
    own = _own_markup(html)
    assert not _EXTERNAL.findall(own), _EXTERNAL.findall(own)
    assert "mathjax" not in own.lower()
    assert "cdn" not in own.lower()
    # The only links the report itself makes are in-page anchors.
    for link in re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", own):
        assert link.startswith("#"), link


def test_single_run_report(single_run: Path, tmp_path: Path) -> None:
    path = write_report(single_run)
    assert path == single_run / "report.html"
    html = path.read_text(encoding="utf-8")
    for section in ('id="overview"', 'id="plots"', 'id="human-vs-simulated"'):
        assert section in html
    assert 'id="ab-statistics"' not in html
    assert "report-test" in html and "ml-latest-small" in html
    manifest = json.loads((single_run / "manifest.json").read_text())
    assert manifest["dataset"]["sha256"][:12] in html
    assert html.count('class="plotly-graph-div"') == PLOTS
    # Results first, provenance last.
    order = [html.index(f'id="{s}"') for s in ("plots", "human-vs-simulated", "overview")]
    assert order == sorted(order)
    assert 'class="close"' in html  # some metric lies within 1.5x the human floor
    assert "report.html" not in _own_markup(html)  # the report does not list itself
    _check_offline(html)
    first = path.read_bytes()
    assert write_report(single_run).read_bytes() == first
    # Where the report goes does not change it (once the old one no longer lies in the run).
    path.unlink()
    assert write_report(single_run, tmp_path / "again.html").read_bytes() == first


def test_manifest_text_is_escaped(single_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(single_run, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["config"]["scenario"] = "<script>alert(1)</script>"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ab_report_sections(ab_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ab.html"
    html = write_report(ab_run, out, ab_result=HAND_MADE_AB).read_text(encoding="utf-8")
    for section in (
        'id="overview"',
        'id="decision"',
        'id="ab-statistics"',
        'id="ab-metrics"',
        'id="ab-differences"',
        'id="plots"',
        'id="human-vs-simulated"',
    ):
        assert section in html
    assert "common random numbers</th><td>yes" in html
    assert "(control)" in html
    assert '<tr class="up">' in html
    assert '<tr class="down">' in html
    assert '<tr class="violated">' in html
    assert html.count("<h3>itemknn</h3>") == 1 and html.count("<h3>popularity</h3>") == 1
    assert html.count('class="plotly-graph-div"') == AB_PLOTS
    # The decision leads: the verdict on the main metric, the broken guardrail, the MDE.
    sections = ("decision", "ab-statistics", "plots", "human-vs-simulated", "overview")
    order = [html.index(f'id="{s}"') for s in sections]
    assert order == sorted(order)
    verdict = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html[order[0] : order[1]]))
    assert "itemknn is better than popularity on ctr: 0.2 (20%)" in verdict
    assert "broken: coverage" in verdict
    # CI [0.15, 0.25]: SE 0.1 / 3.92, MDE (1.96 + 0.84) SE = 0.071 (7.1% of the control's 1.0).
    assert "±0.071 (±7.1% of the control)" in verdict
    # One trace per arm: every plot names both arms.
    for name in ARMS:
        assert html.count(f'"name":"{name}"') >= PLOTS
    _check_offline(html)
    assert write_report(ab_run, out, ab_result=HAND_MADE_AB).read_bytes() == html.encode()


def test_ab_report_public_path(ab_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ab.html"
    html = write_report(ab_run, out).read_text(encoding="utf-8")
    assert 'id="ab-statistics"' in html
    if importlib.util.find_spec("analysis.ab") is not None:
        assert 'id="ab-differences"' in html, "analysis.ab exists but gave no statistics"
    else:
        assert "No A/B statistics" in html
    _check_offline(html)
    assert write_report(ab_run, out).read_bytes() == html.encode()


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is not installed; `make test` installs it (apt-get install chromium)")
    return path


def _render_in_browser(path: Path, screenshot: Path) -> tuple[int, list[str], list[str]]:
    """Open `path` in headless Chromium; rendered plots, errors and outside requests."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url)
                ),
            )
            page.goto(path.as_uri())
            page.wait_for_selector(".plotly .main-svg", timeout=30_000)
            page.wait_for_load_state("networkidle")
            rendered = page.locator(".js-plotly-plot:has(svg.main-svg)").count()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return rendered, errors, outside


def test_report_renders_in_chromium(ab_run: Path, tmp_path: Path) -> None:
    path = write_report(ab_run, tmp_path / "report.html", ab_result=HAND_MADE_AB)
    screenshot = tmp_path / "report.png"
    rendered, errors, outside = _render_in_browser(path, screenshot)
    html = path.read_text(encoding="utf-8")
    assert rendered == html.count('class="plotly-graph-div"') == AB_PLOTS
    assert errors == []
    assert outside == []
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
