import json

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.validity import RatioData, agreement, rank_validity
from simulator.cli import app


def _data(scores, units=200, members=1, noise=0.0, seed=0):
    """Per-unit values whose per-arm means are `scores` (one row per member)."""
    rng = np.random.default_rng(seed)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    scores = np.repeat(scores, members // len(scores), axis=0) if len(scores) < members else scores
    num = scores[:, None, :] + noise * rng.standard_normal((len(scores), units, scores.shape[1]))
    return RatioData(num, np.ones_like(num))


def test_identical_rankings_agree_and_reversed_ones_do_not():
    offline = {"ndcg": _data([0.1, 0.2, 0.3, 0.4], noise=0.05)}
    same = rank_validity(
        ["a", "b", "c", "d"],
        {"all_arms": ["a", "b", "c", "d"]},
        offline,
        {"ctr": _data([1.0, 2.0, 3.0, 4.0], noise=0.1, seed=1)},
        n_boot=200,
    )["all_arms"]
    assert same["kendall_tau"] == pytest.approx(1.0)
    assert same["spearman_rho"] == pytest.approx(1.0)
    assert same["significant_calls"] == 6 and same["disagreeing_significant"] == 0.0
    reversed_ = rank_validity(
        ["a", "b", "c", "d"],
        {"all_arms": ["a", "b", "c", "d"]},
        offline,
        {"ctr": _data([4.0, 3.0, 2.0, 1.0], noise=0.1, seed=1)},
        n_boot=200,
    )["all_arms"]
    assert reversed_["kendall_tau"] == pytest.approx(-1.0)
    assert reversed_["disagreeing_significant"] == 1.0
    assert reversed_["kendall_tau_ci"][1] < 0


def test_an_ensemble_that_disagrees_with_itself_makes_no_call():
    # Two members with opposite verdicts on arms b and c: neither order is supported.
    split = _data([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]], members=2, noise=0.05)
    one = RatioData(split.num[:1], split.den[:1])
    names = (("ctr", "ndcg"),)
    offline = _data([0.1, 0.2, 0.3], noise=0.05)
    rng = np.random.default_rng(0)
    counts = rng.multinomial(200, np.full(200, 1 / 200), size=400).astype(float)
    zero = np.zeros(400, dtype=np.int64)
    off = (offline.point(), offline.replicates(counts, zero))
    alone = agreement(names[0], (one.point(), one.replicates(counts, zero)), off)
    members = np.arange(400) % 2
    both = agreement(names[0], (split.point(), split.replicates(counts, members)), off)
    assert alone.significant_calls == 3
    assert both.significant_calls == 2  # b vs c is no longer called


def test_ratio_data_checks_its_shape():
    with pytest.raises(ValueError, match="shape"):
        RatioData(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.slow  # ~60 s of runs; the rank agreement and call counting have their own tests
def test_bench_validity_runs_from_the_cli(tmp_path):
    out = tmp_path / "validity"
    result = CliRunner().invoke(
        app,
        [
            "bench", "validity", "--dataset", "ml-latest-small",
            "--arms", "random,popularity,itemknn,itemknn-k10,als-f8",
            "--personas", "16", "--days", "1", "--workers", "1", "--n-boot", "100",
            "--ensemble", "2",
            "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"all_arms", "close_arms", "table"} <= data.keys()
    for subset in ("all_arms", "close_arms"):
        s = data[subset]
        for key in ("kendall_tau", "spearman_rho", "disagreeing_significant"):
            assert key in s
        assert len(s["kendall_tau_ci"]) == 2 and len(s["spearman_rho_ci"]) == 2
        assert len(s["by_metric"]) == 9
    assert data["close_arms"]["arm_names"] == ["itemknn", "itemknn-k10", "als-f8"]
    table = {row["arm"]: row for row in data["table"]}
    assert table["random"]["ndcg"] < table["itemknn"]["ndcg"]
    assert table["random"]["ctr"] < table["itemknn"]["ctr"]
    assert sorted(p.name for p in (out / "plain" / "arms").iterdir()) == sorted(table)
    # The ensemble's members fit their own taste spaces; the plain brain is reported apart.
    spaces = {
        json.loads((out / d / "arms" / "random" / "manifest.json").read_text())["taste_space"]
        for d in ("plain", "member-0", "member-1")
    }
    assert len(spaces) == 3
    assert data["single_brain"]["close_arms"]["arm_names"] == data["close_arms"]["arm_names"]


def test_bench_validity_says_what_is_wrong():
    result = CliRunner().invoke(
        app, ["bench", "validity", "--dataset", "ml-latest-small", "--arms", "random,bogus,als"]
    )
    assert result.exit_code != 0
    assert "unknown target 'bogus'" in result.output
    result = CliRunner().invoke(
        app, ["bench", "validity", "--dataset", "ml-latest-small", "--protocol", "magic"]
    )
    assert result.exit_code != 0 and "heldout" in result.output


def test_calls_where_the_offline_metric_cannot_tell_are_counted_apart():
    # Offline, a and b are indistinguishable; c is far ahead. The simulator reverses a and b.
    offline = {"ndcg": _data([0.2, 0.2, 0.9], noise=0.3)}
    result = rank_validity(
        ["a", "b", "c"],
        {"all_arms": ["a", "b", "c"]},
        offline,
        {"ctr": _data([2.0, 1.0, 3.0], noise=0.1, seed=3)},
        n_boot=300,
    )["all_arms"]
    assert result["significant_calls"] == 3
    assert result["offline_separated"] == 2
    assert result["disagreeing_where_offline_separates"] == 0.0
