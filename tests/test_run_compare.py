from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from analysis.frames import load_events
from analysis.run_compare import compare_run
from personas.datasets import load_dataset, sessionize, temporal_split
from personas.io import load_personas
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate

DAYS = 2
# Uncalibrated priors keep these 8 personas busy enough for every metric to be defined.
CONFIG = RunConfig(
    dataset="ml-latest-small",
    personas=8,
    days=DAYS,
    seed=3,
    target="popularity",
    taste_dims=8,
    calibrate=False,
)
METRICS = [
    "rating",
    "items_per_session",
    "session_gap_hours",
    "sessions_per_day",
    "ratings_per_day",
    "item_gini",
    "item_top10_share",
    "coverage",
    "genre_share",
]


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    result = simulate(CONFIG, out)
    assert result.complete
    return out


@pytest.fixture(scope="module")
def paused_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "p"
    result = simulate(CONFIG, out, until_day=1)
    assert not result.complete and result.days_done == 1
    return out


def edit_manifest(run: Path, tmp_path: Path, *keys: str) -> Path:
    """A copy of the run whose manifest lacks manifest[keys[0]][keys[1]]..."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    path = copy / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    parent = manifest
    for key in keys[:-1]:
        parent = parent[key]
    del parent[keys[-1]]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return copy


def test_compare_run_on_a_tiny_run(complete_run: Path) -> None:
    comparison = compare_run(complete_run)
    rows = {row.metric: row for row in comparison.rows}
    assert [row.metric for row in comparison.rows] == METRICS
    # The floors depend on the real users alone; with 8 users all are defined.
    for row in comparison.rows:
        assert math.isfinite(row.floor), row.metric
        assert math.isfinite(row.distance), row.metric
    json.dumps(comparison.as_dict(), allow_nan=False)
    assert comparison.simulated["personas"] == 8

    # Real side, by hand: each persona's held-out ratings in the DAYS days
    # after its train cutoff, sessionised at 30 minutes; every persona counts.
    personas = load_personas(complete_run / "personas.json")
    starts = {p.provenance.user_id: p.provenance.train_until for p in personas}
    split = temporal_split(
        load_dataset("ml-latest-small").ratings, holdout=CONFIG.holdout, min_train=CONFIG.min_train
    )
    bounds = pl.DataFrame(
        {"user_id": list(starts), "start": list(starts.values())},
        schema={"user_id": pl.Int64, "start": pl.Int64},
    )
    window = split.heldout.join(bounds, on="user_id").filter(
        (pl.col("timestamp") >= pl.col("start"))
        & (pl.col("timestamp") < pl.col("start") + DAYS * 86_400)
    )
    assert window.height > 0
    sessions = sessionize(window.drop("start")).select("user_id", "session").unique().height
    observed = len(personas) * DAYS
    assert rows["ratings_per_day"].real == pytest.approx(window.height / observed)
    assert rows["sessions_per_day"].real == pytest.approx(sessions / observed)
    assert rows["items_per_session"].real == pytest.approx(window.height / sessions)

    # Simulated side: every rate event, over every persona's DAYS days.
    events = load_events(complete_run)
    rates = events.filter(pl.col("event") == "rate").height
    assert rows["ratings_per_day"].simulated == pytest.approx(rates / observed)


def test_compare_run_is_deterministic(complete_run: Path) -> None:
    first = compare_run(complete_run).as_dict()
    assert compare_run(complete_run).as_dict() == first
    other = compare_run(complete_run, seed=12345).as_dict()
    assert [r["floor"] for r in other["rows"]] != [r["floor"] for r in first["rows"]]


def test_compare_run_refuses_a_paused_run(paused_run: Path) -> None:
    expected = (
        f"{paused_run}: the run is paused after day 1; "
        "resume it (simfolk run ... --resume) before comparing"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        compare_run(paused_run)


@pytest.mark.parametrize(
    ("keys", "name"),
    [(("status",), "'status'"), (("dataset", "sha256"), "'dataset.sha256'")],
)
def test_compare_run_names_a_missing_manifest_key(
    complete_run: Path, tmp_path: Path, keys: tuple[str, ...], name: str
) -> None:
    copy = edit_manifest(complete_run, tmp_path, *keys)
    with pytest.raises(ValueError) as info:
        compare_run(copy)
    message = str(info.value)
    assert str(copy / "manifest.json") in message
    assert name in message
