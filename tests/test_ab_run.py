"""Offline A/B runs: common random numbers, arms in processes, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.ab import METRICS
from simulator.ab import AB_FILE, parse_arms, simulate_ab
from simulator.config import RunConfig
from simulator.run import RunDirError

SCENARIO = Path(__file__).parents[1] / "scenarios" / "ab_recommenders.py"


def _config(**update: object) -> RunConfig:
    base = RunConfig(
        scenario="ab-test",
        dataset="ml-latest-small",
        personas=30,
        days=2,
        seed=3,
        taste_dims=8,
        calibrate=False,
    )
    return base.model_copy(update=update)


def test_common_random_numbers_make_identical_arms_identical(tmp_path, event_digests):
    same = {"a": "popularity", "b": "popularity"}
    run = simulate_ab(_config(), same, tmp_path / "crn", workers=1)
    assert run.complete and run.control == "a"
    assert event_digests(run.arms["a"]) == event_digests(run.arms["b"])
    apart = simulate_ab(_config(), same, tmp_path / "ind", crn=False, workers=1)
    a, b = (Path(apart.arms[k]) for k in ("a", "b"))
    # The same people, drawing from their own streams in each arm.
    assert (a / "personas.json").read_bytes() == (b / "personas.json").read_bytes()
    assert event_digests(a) != event_digests(b)


def test_arms_in_processes_match_arms_in_turn(tmp_path, event_digests):
    arms = {"pop": "popularity", "knn": "itemknn"}
    here = simulate_ab(_config(), arms, tmp_path / "here", workers=1)
    there = simulate_ab(_config(), arms, tmp_path / "there", workers=2)
    for name in arms:
        assert event_digests(here.arms[name]) == event_digests(there.arms[name])
    record = json.loads((tmp_path / "there" / AB_FILE).read_text())
    assert record["status"] == "complete" and record["crn"] is True
    assert set(record["wall_seconds"]) == set(arms)


def test_resume_skips_finished_arms_and_refuses_other_arms(tmp_path, event_digests):
    arms = {"pop": "popularity", "rnd": "random"}
    first = simulate_ab(_config(), arms, tmp_path / "r", workers=1)
    before = {name: event_digests(path) for name, path in first.arms.items()}
    again = simulate_ab(_config(), arms, tmp_path / "r", workers=1, resume=True)
    assert again.complete and again.wall_seconds == {}
    assert {name: event_digests(path) for name, path in again.arms.items()} == before
    with pytest.raises(RunDirError, match="--resume"):
        simulate_ab(_config(), arms, tmp_path / "r", workers=1)
    with pytest.raises(RunDirError, match="other arms"):
        simulate_ab(_config(), {"pop": "popularity", "knn": "itemknn"}, tmp_path / "r", resume=True)


def test_arms_are_checked_before_anything_runs(tmp_path):
    assert parse_arms(["a=popularity", "b = itemknn"]) == {"a": "popularity", "b": "itemknn"}
    with pytest.raises(ValueError, match="NAME=TARGET"):
        parse_arms(["popularity"])
    with pytest.raises(ValueError, match="used twice"):
        parse_arms(["a=popularity", "a=itemknn"])
    with pytest.raises(ValueError, match="unknown target"):
        parse_arms(["a=nope"])
    with pytest.raises(ValueError, match="at least two"):
        simulate_ab(_config(), {"a": "popularity"}, tmp_path / "x")
    with pytest.raises(ValueError, match="not an arm"):
        simulate_ab(_config(), {"a": "popularity", "b": "random"}, tmp_path / "x", control="c")
    assert not (tmp_path / "x").exists()


def test_the_ab_command_runs_the_scenario_and_prints_the_differences(tmp_path):
    from simulator.cli import app

    out = tmp_path / "ab"
    args = ["ab", str(SCENARIO), "--dataset", "ml-latest-small", "--personas", "25"]
    args += ["--days", "2", "--seed", "1", "--out", str(out), "--workers", "1"]
    args += ["--arm", "popularity=popularity", "--arm", "knn=itemknn"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "against popularity" in result.output and "ctr" in result.output
    record = json.loads((out / AB_FILE).read_text())
    assert record["control"] == "popularity" and set(record["arms"]) == {"popularity", "knn"}
    refused = CliRunner().invoke(app, ["run", str(SCENARIO), "--out", str(tmp_path / "r")])
    assert refused.exit_code != 0


def test_bench_aa_small():
    from simulator.bench_ab import bench_aa

    data = bench_aa(
        seeds=4,
        personas=30,
        days=2,
        dataset="ml-latest-small",
        target="popularity",
        versus="itemknn",
        crn_seeds=2,
        n_boot=300,
    )
    fpr = data["false_positive_rate"]
    assert fpr["tests"] == 4 * len(METRICS) and 0.0 <= fpr["pooled"] <= 1.0
    ratio = data["ci_width"]["ratio_crn_to_independent"]
    # Common random numbers sharpen the same comparison: narrower CIs on the main metrics.
    assert ratio["ctr"] < 1.0 and ratio["clicks_per_session"] < 1.0
