import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.ab import analyse_ab, analyse_ab_dir
from analysis.ab_arms import METRICS, persona_table
from analysis.abresult import ABResult, ArmMetric, Difference
from analysis.bootstrap import bootstrap_p_value, paired_bootstrap
from analysis.frames import load_events
from personas.io import load_personas
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate

ARMS = {"popularity": "popularity", "twin": "popularity", "random": "random"}


@pytest.fixture(scope="module")
def ab_dir(tmp_path_factory: pytest.TempPathFactory, small_config: RunConfig) -> Path:
    """A small A/B run: popularity, the very same config again, and random."""
    root = tmp_path_factory.mktemp("ab")
    for name, target in ARMS.items():
        update = {"scenario": "t", "personas": 30, "seed": 3, "calibrate": False}
        config = small_config.model_copy(update={**update, "target": target})
        simulate(config, root / "arms" / name)
    record = {
        "kind": "ab",
        "control": "popularity",
        "arms": {name: {"target": t, "dir": f"arms/{name}"} for name, t in ARMS.items()},
        "crn": True,
        "config": {},
        "status": "complete",
    }
    (root / "ab.json").write_text(json.dumps(record), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(ab_dir: Path) -> ABResult:
    return analyse_ab_dir(ab_dir, n_boot=500, seed=1)


def _diff(result: ABResult, arm: str, metric: str) -> Difference:
    return next(d for d in result.differences if d.arm == arm and d.metric == metric)


def test_result_shape(result: ABResult) -> None:
    assert result.arms == ["popularity", "twin", "random"]
    assert result.personas == 30
    assert [m.metric for m in result.metrics] == list(METRICS) * 3
    assert [(d.arm, d.metric) for d in result.differences] == [
        (arm, m) for arm in ("twin", "random") for m in METRICS
    ]
    for m in result.metrics:
        assert isinstance(m, ArmMetric)
        if math.isfinite(m.value):
            assert m.ci_low <= m.value + 1e-12 and m.value <= m.ci_high + 1e-12, m


def test_identical_arms_do_not_differ(result: ABResult) -> None:
    for d in (d for d in result.differences if d.arm == "twin"):
        assert d.diff == 0.0, d
        assert d.ci_low == 0.0 and d.ci_high == 0.0, d
        assert d.p_value == 1.0 and d.p_adjusted == 1.0, d
        assert not d.significant and not d.violated


def test_persona_table_matches_trace(ab_dir: Path) -> None:
    run = ab_dir / "arms" / "popularity"
    table = persona_table(run)
    ids = [p.id for p in load_personas(run / "personas.json")]
    assert table["persona_id"].to_list() == ids
    events = load_events(run)
    for column, kind in [
        ("sessions", "session_start"),
        ("impressions", "impression"),
        ("clicks", "click"),
        ("ratings", "rate"),
    ]:
        assert int(table[column].sum()) == events.filter(pl.col("event") == kind).height
    clicked = events.filter(pl.col("event") == "click")["item_id"].to_list()
    assert sorted(i for items in table["clicked_items"].to_list() for i in items) == sorted(clicked)
    active = set(events["persona_id"].drop_nulls())
    inactive = table.filter(~pl.col("persona_id").is_in(list(active)))
    assert inactive.height > 0, "expected some personas without a session in two days"
    assert (inactive["sessions"] == 0).all() and (inactive["session_seconds"] == 0).all()
    assert inactive["clicked_items"].list.len().sum() == 0
    assert (table["active_days"] <= 2).all()
    assert ((table["session_seconds"] > 0) == (table["sessions"] > 0)).all()


def test_popularity_beats_random_on_ctr(result: ABResult) -> None:
    d = _diff(result, "random", "ctr")
    # Control is popularity, so random's CTR difference is negative.
    assert d.diff < 0 and d.ci_high < 0
    assert d.significant
    assert result.winners()["ctr"] == "popularity"


def test_holm_adjusts_upwards(result: ABResult) -> None:
    for d in result.differences:
        assert d.p_adjusted >= d.p_value
        assert 0 < d.p_value <= 1


def test_as_dict_is_json(result: ABResult) -> None:
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["control"] == "popularity"
    assert len(data["differences"]) == 2 * len(METRICS)


def test_non_finite_become_none() -> None:
    metric = ArmMetric("a", "diversity", math.nan, math.nan, math.inf)
    res = ABResult(["a"], "a", 0, 0.05, 10, [metric], [])
    assert res.as_dict()["metrics"][0]["value"] is None
    json.dumps(res.as_dict(), allow_nan=False)


def test_analyse_ab_rejects_unknown_control(ab_dir: Path) -> None:
    with pytest.raises(ValueError, match="control"):
        analyse_ab({"random": ab_dir / "arms" / "random"}, "popularity")


def test_paired_bootstrap_identical_and_p_value_edges() -> None:
    rng = np.random.default_rng(0)
    num = rng.poisson(3.0, 50).astype(float)
    den = num + rng.poisson(20.0, 50)
    same = paired_bootstrap(num, den, num, den, rng, n_boot=300)
    assert same.diff == 0.0 and same.p_value == 1.0
    assert same.ci_low == 0.0 and same.ci_high == 0.0
    assert bootstrap_p_value(np.array([1.0, 1.1, 0.9]), 1.0) == 1 / 4
    assert math.isnan(bootstrap_p_value(np.array([math.nan]), 0.1))


def test_paired_bootstrap_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(42)
    n, hits, runs = 150, 0, 200
    for _ in range(runs):
        den_a = rng.poisson(30.0, n).astype(float)
        den_b = rng.poisson(30.0, n).astype(float)
        num_a = rng.binomial(den_a.astype(int), 0.1).astype(float)
        num_b = rng.binomial(den_b.astype(int), 0.1).astype(float)
        res = paired_bootstrap(num_a, den_a, num_b, den_b, rng, n_boot=400)
        hits += res.p_value < 0.05
    assert 0.02 <= hits / runs <= 0.09


def test_paired_bootstrap_finds_a_clear_effect() -> None:
    rng = np.random.default_rng(7)
    n = 200
    den = rng.poisson(30.0, n).astype(float)
    num_a = rng.binomial(den.astype(int), 0.10).astype(float)
    num_b = rng.binomial(den.astype(int), 0.15).astype(float)
    res = paired_bootstrap(num_a, den, num_b, den, rng, n_boot=1000)
    assert res.diff > 0 and res.ci_low > 0
    assert res.p_value < 0.01
    assert res.a == pytest.approx(num_a.sum() / den.sum())


def test_paired_bootstrap_is_seeded() -> None:
    x = np.arange(1.0, 21.0)
    one = paired_bootstrap(x, x + 5, x[::-1], x + 5, np.random.default_rng(3), n_boot=100)
    two = paired_bootstrap(x, x + 5, x[::-1], x + 5, np.random.default_rng(3), n_boot=100)
    assert one == two


def _synthetic_arm(rng: np.random.Generator, n: int, items: int, per: int) -> object:
    from scipy import sparse

    from analysis.ab_arms import ArmData

    clicked = [rng.choice(items, size=per, replace=False) for _ in range(n)]
    rows = np.repeat(np.arange(n), per)
    flat = np.concatenate(clicked)
    ids, cols = np.unique(flat, return_inverse=True)
    matrix = sparse.csr_matrix((np.ones(flat.size), (rows, cols)), shape=(n, ids.size))
    empty = np.zeros((n, 1))
    return ArmData(empty, empty + 1, matrix, items, ids.astype(np.int64))


def test_the_coverage_permutation_test_holds_its_level_and_sees_an_effect():
    from analysis.ab import coverage_permutation_p

    rng = np.random.default_rng(5)
    null = [
        coverage_permutation_p(
            _synthetic_arm(rng, 40, 300, 3), _synthetic_arm(rng, 40, 300, 3), rng, 200
        )
        for _ in range(150)
    ]
    assert 0.01 <= np.mean(np.array(null) < 0.05) <= 0.10
    narrow = _synthetic_arm(rng, 40, 60, 3)  # clicks spread over a fifth of the catalogue
    wide = _synthetic_arm(rng, 40, 300, 3)
    wide = type(wide)(wide.num, wide.den, wide.clicked, 300, wide.item_ids)
    narrow = type(narrow)(narrow.num, narrow.den, narrow.clicked, 300, narrow.item_ids)
    assert coverage_permutation_p(narrow, wide, rng, 500) < 0.01
