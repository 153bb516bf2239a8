"""Offline A/B runs: common random numbers, arms in processes, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.ab_arms import METRICS
from simulator.core.abrun import AB_FILE
from simulator.core.rundir import RunDirError
from simulator.domains.recsys.ab import parse_arms, simulate_ab
from simulator.domains.recsys.config import RunConfig

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


@pytest.mark.slow  # 16 runs; the A/A false-positive bench at size is `simfolk bench aa`
def test_bench_aa_small():
    from simulator.experiments.aa import bench_aa

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


def test_an_ensemble_ab_carries_every_brain(small_config, tmp_path, event_digests):
    from analysis.ab import analyse_ab, analyse_ab_dir

    arms = {"pop": "popularity", "knn": "itemknn"}
    run = simulate_ab(small_config, arms, tmp_path / "ab", ensemble=2, workers=1)
    record = json.loads((tmp_path / "ab" / AB_FILE).read_text())
    assert record["members"] == [{"pop": "members/0/pop", "knn": "members/0/knn"}]
    # A member is another brain: fitted on a resample of train, it acts otherwise.
    plain, member = run.arms["knn"], tmp_path / "ab" / "members" / "0" / "knn"
    assert event_digests(plain) != event_digests(member)
    result = analyse_ab_dir(run.run_dir, n_boot=200)
    assert result.ensemble == 2
    from analysis.report import write_report

    assert "an ensemble of 2 brains" in write_report(run.run_dir).read_text(encoding="utf-8")
    brains = [
        {"pop": run.arms["pop"], "knn": run.arms["knn"]},
        *({a: tmp_path / "ab" / d for a, d in m.items()} for m in record["members"]),
    ]
    alone = [analyse_ab(b, "pop", n_boot=10) for b in brains]
    for metric in result.metrics:
        values = [
            next(m.value for m in a.metrics if (m.arm, m.metric) == (metric.arm, metric.metric))
            for a in alone
        ]
        assert metric.value == pytest.approx(np.mean(values), nan_ok=True)


def test_an_ensemble_of_one_brain_twice_keeps_its_estimates(small_config, tmp_path):
    from analysis.ab import analyse_ab

    run = simulate_ab(small_config, {"pop": "popularity", "knn": "itemknn"}, tmp_path / "ab")
    dirs = dict(run.arms)
    once = analyse_ab(dirs, "pop", n_boot=200)
    twice = analyse_ab(dirs, "pop", members=[dirs], n_boot=200)
    assert twice.ensemble == 2
    assert [m.value for m in once.metrics] == pytest.approx(
        [m.value for m in twice.metrics], nan_ok=True
    )
    with pytest.raises(ValueError, match=r"ensemble member 0: its arms \['pop'\]"):
        analyse_ab(dirs, "pop", members=[{"pop": dirs["pop"]}])


def test_an_ensemble_needs_calibrated_brains(small_config, tmp_path):
    config = small_config.model_copy(update={"calibrate": False})
    with pytest.raises(ValueError, match="needs calibration"):
        simulate_ab(config, {"a": "popularity", "b": "itemknn"}, tmp_path / "x", ensemble=2)
    with pytest.raises(ValueError, match="at least 1"):
        simulate_ab(small_config, {"a": "popularity", "b": "itemknn"}, tmp_path / "y", ensemble=0)


def test_bench_aa_refuses_an_uncalibrated_ensemble():
    from simulator.experiments.aa import bench_aa

    with pytest.raises(ValueError, match="calibration"):
        bench_aa(
            seeds=1,
            personas=5,
            days=1,
            dataset="ml-latest-small",
            target="popularity",
            versus="itemknn",
            crn_seeds=0,
            n_boot=10,
            ensemble=2,
        )
