from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import analysis.fidelity as fid
import analysis.fidelity_population as fidpop
import simulator.domains.recsys.run
from analysis.fidelity import fidelity
from analysis.fidelity_lists import Confusion, build_lists, parse_ratios
from analysis.fidelity_population import Population, population
from analysis.fidelity_ratings import RatingResult, mae, rmse
from personas.datasets import load_dataset, temporal_split
from simulator import cli
from simulator.cli import app

CONFIG = fid.RunConfig(
    scenario="bench-fidelity-test",
    dataset="ml-latest-small",
    seed=5,
    taste_dims=8,
    days=1,
    target="popularity",
)
USERS = 15
runner = CliRunner()


@pytest.fixture(scope="module")
def pop() -> Population:
    return population(CONFIG, USERS)


def _heldout_in_order(pop: Population, user: int) -> list[int]:
    rows = pop.prep.split.heldout.filter(pl.col("user_id") == user).sort("timestamp", "item_id")
    return list(dict.fromkeys(rows["item_id"].to_list()))


@pytest.mark.parametrize("ratio", [1, 3, 9])
def test_lists_hold_earliest_heldout_positives_and_never_rated_negatives(pop, ratio):
    ratings = pop.prep.dataset.ratings  # the whole history, train and held-out
    tasks = build_lists(pop, ratio)
    assert len(tasks) == len(pop.personas) == USERS
    shuffled = False
    for task in tasks:
        heldout = _heldout_in_order(pop, task.user_id)
        n_pos = min(len(heldout), 20 // (1 + ratio))
        assert n_pos >= 1
        assert len(task.items) == n_pos * (1 + ratio) <= 20
        assert len(set(task.items)) == len(task.items)
        assert task.positives == set(heldout[:n_pos])  # the earliest held-out items
        negatives = set(task.items) - task.positives
        assert len(negatives) == ratio * n_pos
        ever_rated = set(ratings.filter(pl.col("user_id") == task.user_id)["item_id"].to_list())
        assert not negatives & ever_rated
        assert negatives <= set(pop.prep.catalog.item_ids.tolist())
        assert task.labels.sum() == n_pos
        shuffled |= [i for i in task.items if i in task.positives] != heldout[:n_pos] or (
            task.labels[:n_pos].sum() != n_pos
        )
    assert shuffled, "positives always come first: the list is not shuffled"


def test_lists_depend_on_the_seed_only(pop):
    assert build_lists(pop, 3) == build_lists(pop, 3)
    other = dataclasses.replace(pop, config=CONFIG.model_copy(update={"seed": CONFIG.seed + 1}))
    mine, theirs = build_lists(pop, 3), build_lists(other, 3)
    assert [t.positives for t in mine] == [t.positives for t in theirs]
    assert [t.items for t in mine] != [t.items for t in theirs]


def test_confusion_arithmetic():
    c = Confusion(tp=6, fp=2, fn=4, tn=8)
    assert c.total == 20
    assert c.accuracy == pytest.approx(0.7)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    labels = np.array([1, 1, 0, 0, 1])
    chosen = np.array([1, 0, 1, 0, 1])
    assert Confusion.of(labels, chosen) == Confusion(tp=2, fp=1, fn=1, tn=1)
    assert Confusion(1, 1, 0, 0) + Confusion(0, 0, 2, 3) == Confusion(1, 1, 2, 3)
    nothing = Confusion(tp=0, fp=0, fn=3, tn=7)
    assert nothing.precision == 0.0 and nothing.recall == 0.0 and nothing.f1 == 0.0
    assert math.isnan(Confusion().accuracy)


def test_drawn_ratings_are_on_the_scale_and_keyed(small_config):
    from analysis.fidelity_population import population
    from analysis.fidelity_ratings import _expected_and_sampled
    from simulator.domains.recsys.brains.utility import UtilityBrain

    pop = population(small_config, users=6)
    brain = UtilityBrain(pop.prep.catalog)
    scale = pop.prep.dataset.rating_scale
    rows = [(p, int(i)) for p in pop.personas for i in pop.prep.catalog.item_ids[:5]]
    expected, sampled = _expected_and_sampled(brain, rows, scale, seed=3)
    again = _expected_and_sampled(brain, rows, scale, seed=3)[1]
    assert all(scale.contains(v) for v in sampled) and sampled.tolist() == again.tolist()
    # The draw is the expected rating plus the persona's noise: it spreads around it.
    assert np.std(sampled - expected) > 0.1


def test_rating_errors_on_a_known_case():
    predicted, real = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 5.0, 3.0])
    assert rmse(predicted, real) == pytest.approx(math.sqrt((0 + 0 + 4 + 1) / 4))
    assert mae(predicted, real) == pytest.approx((0 + 0 + 2 + 1) / 4)
    figures = RatingResult(predicted=predicted, real=real).as_dict()
    assert figures["n"] == 4 and figures["rmse"] == pytest.approx(math.sqrt(1.25))
    # W1 of the two samples: sorted pairs (1,1) (2,2) (3,3) (4,5) -> 1/4
    assert figures["w1"] == pytest.approx(0.25)
    assert RatingResult(predicted=np.array([]), real=np.array([])).as_dict()["rmse"] is None


def test_bad_ratios_are_refused():
    assert parse_ratios("1,3,9") == (1, 3, 9)
    assert parse_ratios(" 2 ") == (2,)
    for bad in ("0,x", "0", "x", "", "1,,3", "20", "-1", "3,3", "1.5"):
        with pytest.raises(ValueError, match="--ratios"):
            parse_ratios(bad)


def _mirrored_heldout(monkeypatch: pytest.MonkeyPatch) -> pl.DataFrame:
    """Make the loader return ml-latest-small with every held-out rating mirrored on the scale."""
    original = load_dataset(CONFIG.dataset)
    split = temporal_split(original.ratings, holdout=CONFIG.holdout, min_train=CONFIG.min_train)
    scale = original.rating_scale
    held = split.heldout.select("user_id", "item_id", "timestamp").with_columns(
        pl.lit(True).alias("held")
    )
    ratings = (
        original.ratings.join(held, on=["user_id", "item_id", "timestamp"], how="left")
        .with_columns(
            pl.when(pl.col("held"))
            .then(scale.high + scale.low - pl.col("rating"))
            .otherwise(pl.col("rating"))
            .alias("rating")
        )
        .drop("held")
    )
    altered = dataclasses.replace(original, ratings=ratings)
    monkeypatch.setattr(simulator.domains.recsys.run, "load_dataset", lambda name: altered)
    return split.heldout


def test_leakage_heldout_values_move_only_the_real_side(monkeypatch, pop):
    seen: dict[str, list[pl.DataFrame]] = {"build": [], "calibrate": []}
    real_build, real_calibrate = fidpop.build_personas, fid.calibrate

    def spy_build(dataset, train, *args, **kwargs):
        seen["build"].append(train)
        return real_build(dataset, train, *args, **kwargs)

    def spy_calibrate(dataset, train, **kwargs):
        seen["calibrate"].append(train)
        return real_calibrate(dataset, train, **kwargs)

    monkeypatch.setattr(fidpop, "build_personas", spy_build)
    monkeypatch.setattr(fid, "calibrate", spy_calibrate)
    before = fidelity(CONFIG, users=USERS, macro=False)

    # Nothing held out reached the persona builder or the calibration.
    dataset = load_dataset(CONFIG.dataset)
    heldout = temporal_split(dataset.ratings, CONFIG.holdout, CONFIG.min_train).heldout
    assert seen["build"] and seen["calibrate"]
    for train in seen["build"] + seen["calibrate"]:
        leaked = train.join(heldout, on=["user_id", "item_id", "timestamp"], how="semi")
        assert leaked.height == 0

    real_heldout = _mirrored_heldout(monkeypatch)
    after = fidelity(CONFIG, users=USERS, macro=False)
    assert after.params == before.params
    assert [m.as_dict() for m in after.micro] == [m.as_dict() for m in before.micro]
    np.testing.assert_array_equal(after.ratings.predicted, before.ratings.predicted)
    assert after.ratings.real.size == before.ratings.real.size > 0
    assert not np.array_equal(after.ratings.real, before.ratings.real)
    assert after.ratings.rmse != before.ratings.rmse
    # the real side of the altered run is indeed the mirrored held-out
    scale = dataset.rating_scale
    users = [p.provenance.user_id for p in pop.personas]
    mine = real_heldout.filter(pl.col("user_id").is_in(users))["rating"].to_numpy()
    np.testing.assert_array_equal(after.ratings.real, scale.high + scale.low - mine)


def _bench(*extra: str) -> dict:
    args = ["bench", "fidelity", "--dataset", "ml-latest-small", "--users", "10"]
    result = runner.invoke(app, [*args, "--days", "1", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_json_is_complete_and_deterministic():
    first = _bench()
    assert {"micro", "ratings", "macro", "users", "seed", "dataset", "wall_seconds"} <= set(first)
    assert [m["ratio"] for m in first["micro"]] == [1, 3, 9]
    for m in first["micro"]:
        assert {"accuracy", "precision", "recall", "f1", "lists"} <= set(m)
        assert m["lists"] == first["users"] == 10
        assert 0 <= m["f1"] <= 1
    assert {"rmse", "mae", "w1", "n"} <= set(first["ratings"]) and first["ratings"]["n"] > 0
    # The utility brain's expected and drawn ratings are reported beside the most likely.
    for name in ("expected", "sampled"):
        assert set(first["ratings"][name]) == {"rmse", "w1"}
        assert first["ratings"][name]["rmse"] > 0
    metrics = [row["metric"] for row in first["macro"]["rows"]]
    assert "rating" in metrics and "sessions_per_day" in metrics
    assert {"metric", "distance", "floor", "ratio"} <= set(first["macro"]["rows"][0])
    assert first["dataset"]["name"] == "ml-latest-small" and len(first["dataset"]["sha256"]) == 64
    assert {"micro", "ratings", "macro"} <= set(first["wall_seconds"])
    second = _bench()
    first.pop("wall_seconds"), second.pop("wall_seconds")
    assert first == second


def test_cli_errors_exit_2(monkeypatch, capsys):
    result = runner.invoke(
        app, ["bench", "fidelity", "--dataset", "ml-latest-small", "--ratios", "0,x"]
    )
    assert result.exit_code != 0 and isinstance(result.exception, ValueError)
    assert "--ratios" in str(result.exception)
    for args in (
        ["--dataset", "ml-latest-small", "--ratios", "0,x"],
        ["--dataset", "/nonexistent/folder"],
    ):
        monkeypatch.setattr(sys, "argv", ["simfolk", "bench", "fidelity", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        assert exit_info.value.code == 2
        assert "error:" in capsys.readouterr().out
